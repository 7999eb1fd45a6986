using BiasBench.Abstractions;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class LaionAestheticModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-aesthetic-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    /// <summary>A random head with upstream's layout (layers.0/2/4/6/7) sized for the fixture's embedding width.</summary>
    private static Dictionary<string, Tensor> RandomHead(long inputWidth, int seed)
    {
        using var generator = new Generator((ulong)seed);
        long[] widths = [inputWidth, 24, 12, 8, 4, 1];
        var state = new Dictionary<string, Tensor>();
        for (var i = 0; i < AestheticHead.LinearPositions.Length; i++)
        {
            var p = AestheticHead.LinearPositions[i];
            state[$"layers.{p}.weight"] = randn([widths[i + 1], widths[i]], generator: generator) * 0.5;
            state[$"layers.{p}.bias"] = randn([widths[i + 1]], generator: generator) * 0.1;
        }
        return state;
    }

    /// <summary>The head computed directly: five affine maps in a row (dropout is inactive at inference).</summary>
    private static Tensor DirectHead(Tensor x, IReadOnlyDictionary<string, Tensor> state)
    {
        var h = x;
        foreach (var p in AestheticHead.LinearPositions)
            h = h.matmul(state[$"layers.{p}.weight"].t()) + state[$"layers.{p}.bias"];
        return h.squeeze(-1);
    }

    [Fact]
    public async Task AppliesTheMlpToTheNormalisedImageEmbedding()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var scope = NewDisposeScope();
        var imageEmbeds = fixture.Cases["image_embeds"];
        var state = RandomHead(imageEmbeds.shape[1], seed: 7);
        var headPath = Path.Combine(_temp, "head.safetensors");
        SafeTensorsFile.Save(headPath, state);
        var options = new LaionAestheticOptions { ModelPath = fixture.Folder, HeadPath = headPath, Device = "cpu", Dtype = "float32", BatchSize = 3 };
        using var model = ClipRewardFactory.CreateLaionAesthetic(options);
        var expected = DirectHead(imageEmbeds, state);

        using (no_grad())
        {
            var network = model.Score(fixture.Cases["pixel_values"], null);
            var networkDiff = ClipRewardFixture.MaxAbsDiff(network, expected);
            output.WriteLine($"aesthetic network path vs direct MLP on transformers image_embeds: max |diff| = {networkDiff:E3}");
            Assert.True(networkDiff <= 1e-4, $"max |diff| {networkDiff}");
        }

        // The prompt must not matter: score each image with two different prompts.
        var requests = fixture.ImagePaths.SelectMany((p, i) => new[] { "", "a completely different prompt" }
            .Select(prompt => new RewardRequest(ImageRef.FromFile($"image{i}", p), prompt))).ToList();
        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
        using var expectedPairs = expected.repeat_interleave(2);
        var diff = ClipRewardFixture.MaxAbsDiff(results, expectedPairs);
        output.WriteLine($"aesthetic end to end: max |diff| = {diff:E3} (scores {string.Join(", ", results.Select(r => r.Value.ToString("F4")))})");
        Assert.True(diff <= 1e-4, $"max |diff| {diff}");
        // Same image, different prompt: equal up to float reordering across batch positions.
        for (var i = 0; i < results.Count; i += 2) Assert.Equal(results[i].Value, results[i + 1].Value, 1e-5);

        Assert.Equal("laion-aesthetic-v2", model.Info.Name);
        Assert.True(model.Info.Semantics.ComparableAcrossPrompts);
        Assert.False(model.UsesPrompt);
        // The checksum covers the CLIP weights and the head.
        Assert.NotEqual(WeightFileChecksum.Sha256(Path.Combine(fixture.Folder, "model.safetensors")), model.Info.WeightsChecksum);
        Assert.Equal(64, model.Info.WeightsChecksum!.Length);
    }

    [Fact]
    public void HeadWithOtherKeysIsRejectedNamingThem()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var scope = NewDisposeScope();
        var state = RandomHead(16, seed: 1);
        state["layers.1.weight"] = state["layers.2.weight"];
        state.Remove("layers.2.weight");
        var headPath = Path.Combine(_temp, "wrong.safetensors");
        SafeTensorsFile.Save(headPath, state);
        var error = Assert.Throws<InvalidDataException>(() => AestheticHead.Load(headPath));
        Assert.Contains("layers.2.weight", error.Message);
        Assert.Contains("layers.1.weight", error.Message);
        Assert.Contains(headPath, error.Message);
    }

    [Fact]
    public void HeadForAnotherEmbeddingWidthIsRejected()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var scope = NewDisposeScope();
        // A width the fixture's embedding does not have (whatever the fixture set's model size).
        var wrongWidth = fixture.Cases["image_embeds"].shape[1] + 8;
        var headPath = Path.Combine(_temp, "wide.safetensors");
        SafeTensorsFile.Save(headPath, RandomHead(wrongWidth, seed: 2));
        var options = new LaionAestheticOptions { ModelPath = fixture.Folder, HeadPath = headPath, Device = "cpu" };
        var error = Assert.Throws<ArgumentException>(() => ClipRewardFactory.CreateLaionAesthetic(options));
        Assert.Contains(wrongWidth.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }
}
