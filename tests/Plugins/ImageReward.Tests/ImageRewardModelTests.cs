using BiasBench.Abstractions;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Tests;

public class ImageRewardModelTests
{
    private readonly ITestOutputHelper _output;

    public ImageRewardModelTests(ITestOutputHelper output) => _output = output;

    /// <summary>Undoes the CLIP normalisation: the fixture's pixel values as [0, 1]-scale images.</summary>
    private static Tensor Unnormalise(Tensor pixels)
    {
        var mean = tensor(DifferentiablePreprocessing.ClipMean, dtype: ScalarType.Float32).view(1, 3, 1, 1);
        var std = tensor(DifferentiablePreprocessing.ClipStd, dtype: ScalarType.Float32).view(1, 3, 1, 1);
        return pixels * std + mean;
    }

    [Fact]
    public void Reward_tensor_matches_the_reference_and_carries_gradients_to_the_pixels()
    {
        using var fixture = ImageRewardFixture.Load();
        using var model = new ImageRewardModel(fixture.LoadNetwork(), fixture.ReferenceTokenizer(), images: null);
        using var images = Unnormalise(fixture.PixelValues).detach().requires_grad_(true);

        using var rewards = model.RewardTensor(images, fixture.Prompts);
        Assert.Equal(new long[] { fixture.Prompts.Length }, rewards.shape);
        var diff = ImageRewardFixture.MaxAbsDiff(rewards.detach(), fixture.ExpectedRewards);
        _output.WriteLine($"RewardTensor max |diff| = {diff:E3}");
        Assert.True(diff <= ImageRewardFixture.Tolerance, $"max |diff| {diff:E3}");

        using var total = rewards.sum();
        total.backward();
        using var grad = images.grad!;
        Assert.NotNull(grad);
        Assert.True(grad.isfinite().all().item<bool>());
        Assert.True(grad.abs().sum().item<float>() > 0, "no gradient reached the pixels");
        // Frozen weights: nothing accumulates in the network.
        Assert.All(model.Network.Parameters(), p => Assert.Null(p.Parameter.grad));
    }

    [Fact]
    public void Reward_tensor_resizes_other_sizes_differentiably()
    {
        using var fixture = ImageRewardFixture.Load();
        using var model = new ImageRewardModel(fixture.LoadNetwork(), fixture.ReferenceTokenizer(), images: null);
        using var images = rand(fixture.Prompts.Length, 3, 256, 300).requires_grad_(true);
        using var rewards = model.RewardTensor(images, fixture.Prompts);
        using var total = rewards.sum();
        total.backward();
        Assert.True(images.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Reward_tensor_refuses_a_prompt_count_that_differs_from_the_batch()
    {
        using var fixture = ImageRewardFixture.Load();
        using var model = new ImageRewardModel(fixture.LoadNetwork(), fixture.ReferenceTokenizer(), images: null);
        using var images = rand(fixture.Prompts.Length + 1, 3, 224, 224);
        Assert.Throws<ArgumentException>(() => model.RewardTensor(images, fixture.Prompts));
    }

    [Fact]
    public async Task Score_async_batches_and_reports_unreadable_images_per_item()
    {
        using var fixture = ImageRewardFixture.Load();
        var preprocessor = new FixturePixels(fixture);
        // Batch size 1 forces one forward pass per image.
        using var model = new ImageRewardModel(fixture.LoadNetwork(), fixture.ReferenceTokenizer(), preprocessor, batchSize: 1);
        var requests = fixture.Images.Select((name, i) => new RewardRequest(ImageRef.FromFile(name, name), fixture.Prompts[i]))
            .Append(new RewardRequest(ImageRef.FromFile("broken", "broken.png"), fixture.Prompts[0]))
            .ToList();

        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);

        Assert.Equal(requests.Count, results.Count);
        var expected = fixture.ExpectedRewards.data<float>().ToArray();
        for (var i = 0; i < fixture.Images.Length; i++)
        {
            Assert.True(results[i].IsSuccess, results[i].Error);
            Assert.True(Math.Abs(results[i].Value - expected[i]) <= ImageRewardFixture.Tolerance, $"case {i}: {results[i].Value} vs {expected[i]}");
        }
        Assert.False(results[^1].IsSuccess);
        Assert.Contains("broken", results[^1].Error);
    }

    [Fact]
    public async Task Truncated_prompts_are_scored_and_noted_per_item()
    {
        using var fixture = ImageRewardFixture.Load();
        var logger = new ListLogger();
        var truncatedPrompt = fixture.Prompts[^1];
        var tokenizer = new TruncationMarkingTokenizer(fixture.ReferenceTokenizer(), truncatedPrompt);
        using var model = new ImageRewardModel(fixture.LoadNetwork(), tokenizer, new FixturePixels(fixture), logger: logger);
        var requests = fixture.Images.Select((name, i) => new RewardRequest(ImageRef.FromFile(name, name), fixture.Prompts[i])).ToList();

        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);

        Assert.All(results, r => Assert.True(r.IsSuccess, r.Error));
        var truncatedItems = requests.Where(r => r.Prompt == truncatedPrompt).Select(r => r.Image.Id).ToList();
        var warnings = logger.Messages.Where(m => m.Level == Microsoft.Extensions.Logging.LogLevel.Warning).Select(m => m.Text).ToList();
        Assert.Equal(truncatedItems.Count, warnings.Count);
        foreach (var id in truncatedItems) Assert.Contains(warnings, w => w.Contains(id) && w.Contains("35"));
    }

    [Fact]
    public void Info_describes_a_within_prompt_standardised_reward()
    {
        using var fixture = ImageRewardFixture.Load();
        using var model = new ImageRewardModel(fixture.LoadNetwork(), fixture.ReferenceTokenizer(), images: null, weightsChecksum: "abc");
        Assert.Equal("image-reward", model.Info.Name);
        Assert.False(model.Info.Semantics.ComparableAcrossPrompts);
        Assert.True(model.Info.Semantics.HigherIsBetter);
        Assert.Equal("pil-bicubic-224-centercrop/clip-norm", model.Info.Preprocessing);
        var config = model.Network.Config;
        Assert.Contains(config.RewardMean.ToString("R", System.Globalization.CultureInfo.InvariantCulture), model.Info.Semantics.Description);
        Assert.Contains(config.RewardStd.ToString("R", System.Globalization.CultureInfo.InvariantCulture), model.Info.Semantics.Description);
        Assert.Equal("abc", model.Info.WeightsChecksum);
        Assert.Equal(CPU.type, model.Device.type);
    }

    /// <summary>Serves the fixture's reference pixel values by image id; anything else is unreadable.</summary>
    private sealed class FixturePixels(ImageRewardFixture fixture) : IImagePreprocessor
    {
        public Task<Tensor> LoadAsync(ImageRef image, int size, CancellationToken cancellationToken)
        {
            var index = Array.IndexOf(fixture.Images, image.Id);
            if (index < 0) throw new InvalidDataException("cannot decode this file");
            Assert.Equal(size, fixture.PixelValues.shape[2]);
            return Task.FromResult(fixture.PixelValues[index].clone());
        }
    }

    /// <summary>Reports one prompt as truncated (the fixture's prompts are short).</summary>
    private sealed class TruncationMarkingTokenizer(IPromptTokenizer inner, string truncated) : IPromptTokenizer
    {
        public TokenizedPrompt Encode(string prompt, int maxLength) =>
            inner.Encode(prompt, maxLength) with { Truncated = prompt == truncated };
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<(Microsoft.Extensions.Logging.LogLevel Level, string Text)> Messages { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter) => Messages.Add((logLevel, formatter(state, exception)));
    }
}
