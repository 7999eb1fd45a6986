using BiasBench.Abstractions;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class ClipRewardModelTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(ClipRewardFixture.HuggingFace)]
    [InlineData(ClipRewardFixture.OpenClip)]
    public void RewardTensorIsDifferentiableWithRespectToThePixels(string folder)
    {
        using var fixture = ClipRewardFixture.Open(folder);
        using var model = folder == ClipRewardFixture.HuggingFace
            ? (ClipRewardModel)ClipRewardFactory.CreatePickScore(fixture.Options())
            : ClipRewardFactory.CreateHps(HpsVersion.V2_0, fixture.Options());
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        // Non-square and not 224: the model resizes differentiably.
        var images = rand([2, 3, 96, 80], generator: generator).requires_grad_(true);
        var rewards = model.RewardTensor(images, [fixture.Prompts[0], fixture.Prompts[1]]);
        Assert.Equal([2L], rewards.shape);
        Assert.True(rewards.requires_grad);
        rewards.sum().backward();
        var grad = images.grad;
        Assert.NotNull(grad);
        Assert.Equal(images.shape, grad!.shape);
        Assert.True(grad.isfinite().all().item<bool>());
        var norm = grad.abs().sum().item<float>();
        output.WriteLine($"{folder}: rewards {string.Join(", ", rewards.data<float>().ToArray())}, |grad|_1 = {norm:E3}");
        Assert.True(norm > 0, "the gradient is zero");
        // The CLIP weights are frozen: no gradient accumulates in them.
        Assert.All(model.Clip.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public async Task RewardTensorAgreesWithScoreAsyncOnTheSamePixels()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        // The tensor transforms agree with the byte path exactly (same resize), unlike the PIL one.
        using var model = ClipRewardFactory.CreateHps(HpsVersion.V2_0, fixture.Options());
        var path = fixture.ImagePaths[0];
        var prompt = fixture.Prompts[0];
        var results = await model.ScoreAsync([new RewardRequest(ImageRef.FromFile("a", path), prompt)], TestContext.Current.CancellationToken);
        using var scope = NewDisposeScope();
        var decoded = Imaging.ImageDecoder.Decode(File.ReadAllBytes(path), path);
        var chw = tensor(decoded.Pixels, [decoded.Height, decoded.Width, 3]).permute(2, 0, 1).to(ScalarType.Float32) / 255;
        Tensor reward;
        using (no_grad()) reward = model.RewardTensor(chw.unsqueeze(0), [prompt]);
        var diff = Math.Abs(reward.item<float>() - results[0].Value);
        output.WriteLine($"RewardTensor vs ScoreAsync (hps-pad): |diff| = {diff:E3}");
        Assert.True(diff <= ClipRewardFixture.EndToEndTolerance, $"|diff| {diff}");
    }

    [Fact]
    public async Task BadImagesFailAloneWithTheirReason()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var model = ClipRewardFactory.CreatePickScore(fixture.Options());
        var temp = Directory.CreateTempSubdirectory("biasbench-bad-images-").FullName;
        try
        {
            var good = fixture.ImagePaths[0];
            var empty = Path.Combine(temp, "empty.jpg");
            File.WriteAllBytes(empty, []);
            var jpeg = Path.Combine(temp, "truncated.jpg");
            // A JPEG cut off after its first few hundred bytes: the header parses, the scan does not.
            var real = EncodeJpeg(good);
            File.WriteAllBytes(jpeg, real[..Math.Min(200, real.Length / 4)]);
            var missing = Path.Combine(temp, "does-not-exist.png");
            var prompt = fixture.Prompts[0];
            var requests = new List<RewardRequest>
            {
                new(ImageRef.FromFile("good", good), prompt),
                new(ImageRef.FromFile("truncated", jpeg), prompt),
                new(ImageRef.FromFile("empty", empty), prompt),
                new(ImageRef.FromBytes("garbage", "not an image at all"u8.ToArray()), prompt),
                new(ImageRef.FromFile("missing", missing), prompt),
                new(ImageRef.FromFile("good-again", good), prompt),
            };
            var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
            Assert.Equal(requests.Count, results.Count);
            foreach (var (r, q) in results.Zip(requests)) output.WriteLine($"{q.Image.Id}: {(r.IsSuccess ? r.Value.ToString("F4") : r.Error)}");
            Assert.True(results[0].IsSuccess);
            Assert.True(results[5].IsSuccess);
            Assert.Equal(results[0].Value, results[5].Value, 5);
            foreach (var i in new[] { 1, 2, 3, 4 })
            {
                Assert.False(results[i].IsSuccess);
                Assert.Contains(requests[i].Image.Id, results[i].Error);
            }
            Assert.Contains("does-not-exist.png", results[4].Error);
        }
        finally { Directory.Delete(temp, recursive: true); }
    }

    [Fact]
    public async Task LongPromptsAreTruncatedKeepingTheEndTokenAndWarnedOnce()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        var logger = new RecordingLogger();
        using var model = ClipRewardFactory.CreatePickScore(fixture.Options(), "cpu", logger);
        var longPrompt = string.Join(" ", Enumerable.Range(0, 120).Select(i => $"word{i}"));
        var (ids, mask, tokens) = model.Tokenize([longPrompt, fixture.Prompts[0]]);
        using (ids) using (mask)
        {
            Assert.True(tokens[0].Truncated);
            var context = model.Clip.Config.Text.ContextLength; // from the checkpoint's config
            Assert.Equal(context, (int)ids.shape[1]);
            Assert.Equal(context, tokens[0].TokenCount); // tokens kept, start and end included
            Assert.False(tokens[1].Truncated);
            var row = ids[0].data<long>().ToArray();
            Assert.Equal(49406, row[0]);
            Assert.Equal(49407, row[^1]);
            Assert.All(mask!.data<long>().Take(context), m => Assert.Equal(1, m));
        }
        var requests = Enumerable.Range(0, 3).Select(i => new RewardRequest(ImageRef.FromFile($"i{i}", fixture.ImagePaths[0]), longPrompt)).ToList();
        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
        Assert.All(results, r => Assert.True(r.IsSuccess, r.Error));
        Assert.All(results, r => Assert.Contains("truncated", r.Note));
        Assert.Single(logger.Messages, m => m.Level == LogLevel.Warning && m.Text.Contains("truncated"));
    }

    [Fact]
    public async Task CancellationStopsTheBatchAndTheModelStaysUsable()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        using var model = ClipRewardFactory.CreateHps(HpsVersion.V2_0, fixture.Options());
        var requests = Enumerable.Range(0, 9).Select(i => new RewardRequest(ImageRef.FromFile($"i{i}", fixture.ImagePaths[i % fixture.ImagePaths.Count]), fixture.Prompts[0])).ToList();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => model.ScoreAsync(requests, cancelled.Token));
        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
        Assert.All(results, r => Assert.True(r.IsSuccess, r.Error));
    }

    private static byte[] EncodeJpeg(string png)
    {
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        using var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    private sealed class RecordingLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Messages { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages) Messages.Add((logLevel, formatter(state, exception)));
        }
    }
}
