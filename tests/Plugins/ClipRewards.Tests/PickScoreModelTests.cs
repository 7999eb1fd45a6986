using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class PickScoreModelTests(ITestOutputHelper output)
{
    private const double NetworkTolerance = ClipRewardFixture.NetworkTolerance;
    private const double PixelTolerance = ClipRewardFixture.PixelTolerance;
    private const double EndToEndTolerance = ClipRewardFixture.EndToEndTolerance;

    [Fact]
    public void NetworkPathMatchesTransformersLogitsForEveryPair()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var model = ClipRewardFactory.CreatePickScore(fixture.Options());
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (pixels, ids) = fixture.ExpandPairs(fixture.Cases["pixel_values"], fixture.Cases["input_ids"]);
        var (_, mask) = fixture.ExpandPairs(fixture.Cases["pixel_values"], fixture.Cases["attention_mask"]);
        var scores = model.Score(pixels, ids, mask);
        var diff = ClipRewardFixture.MaxAbsDiff(scores, fixture.Cases["logits_per_image"].reshape(-1));
        output.WriteLine($"pickscore network path vs transformers logits_per_image: max |diff| = {diff:E3}");
        Assert.True(diff <= NetworkTolerance, $"max |diff| {diff} > {NetworkTolerance}");
        // The fixture may store logit_scale_exp in half precision: allow its rounding step.
        var expectedScale = fixture.Cases["logit_scale_exp"];
        var scaleTolerance = expectedScale.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? Math.Abs(expectedScale.to(ScalarType.Float64).item<double>()) * Math.Pow(2, -10) : 1e-4;
        Assert.Equal(expectedScale.to(ScalarType.Float64).item<double>(), model.LogitScaleExp, scaleTolerance);
    }

    [Fact]
    public void TokenizerReproducesTheProcessorIdsAndMask()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var model = ClipRewardFactory.CreatePickScore(fixture.Options());
        var (ids, mask, tokens) = model.Tokenize(fixture.Prompts);
        using (ids) using (mask)
        {
            Assert.Equal(fixture.Cases["input_ids"].data<long>().ToArray(), ids.data<long>().ToArray());
            Assert.NotNull(mask);
            Assert.Equal(fixture.Cases["attention_mask"].data<long>().ToArray(), mask!.data<long>().ToArray());
            Assert.All(tokens, t => Assert.False(t.Truncated));
        }
    }

    [Fact]
    public void PreprocessingMatchesTheFixturePixelValues()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var model = ClipRewardFactory.CreatePickScore(fixture.Options());
        Assert.Equal(ClipImageTransform.PilCenterCrop, model.Images.Transform);
        for (var i = 0; i < fixture.ImagePaths.Count; i++)
        {
            var pixels = model.Images.Preprocess(File.ReadAllBytes(fixture.ImagePaths[i]));
            using var actual = tensor(pixels, [3, model.Images.Size, model.Images.Size]);
            var diff = ClipRewardFixture.MaxAbsDiff(actual, fixture.Cases["pixel_values"][i]);
            output.WriteLine($"{Path.GetFileName(fixture.ImagePaths[i])}: preprocessing max |diff| = {diff:E3}");
            Assert.True(diff <= PixelTolerance, $"{fixture.ImagePaths[i]}: max |diff| {diff}");
        }
    }

    [Fact]
    public async Task ScoresFixtureImagesEndToEnd()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var model = ClipRewardFactory.CreatePickScore(fixture.Options());
        var results = await model.ScoreAsync(fixture.AllPairs(), TestContext.Current.CancellationToken);
        var diff = ClipRewardFixture.MaxAbsDiff(results, fixture.Cases["logits_per_image"]);
        output.WriteLine($"pickscore end to end (decode + preprocess + tokenize + network) vs logits_per_image: max |diff| = {diff:E3}");
        Assert.True(diff <= EndToEndTolerance, $"max |diff| {diff} > {EndToEndTolerance}");
    }

    [Fact]
    public void InfoDescribesAPromptConditionedScoreWithChecksum()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var model = ClipRewardFactory.CreatePickScore(fixture.Options());
        Assert.Equal("pickscore", model.Info.Name);
        Assert.False(model.Info.Semantics.ComparableAcrossPrompts);
        Assert.Equal(model.LogitScaleExp, model.Info.Semantics.Maximum!.Value, 6);
        Assert.Contains("pil-bicubic", model.Info.Preprocessing);
        var expected = BiasBench.Torch.Weights.WeightFileChecksum.Sha256(Path.Combine(fixture.Folder, "model.safetensors"));
        Assert.Equal(expected, model.Info.WeightsChecksum);
    }
}
