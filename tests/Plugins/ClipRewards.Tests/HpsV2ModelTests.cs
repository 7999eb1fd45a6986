using BiasBench.Abstractions;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class HpsV2ModelTests(ITestOutputHelper output)
{
    private const double NetworkTolerance = ClipRewardFixture.NetworkTolerance;
    private const double PixelTolerance = ClipRewardFixture.PixelTolerance;
    private const double EndToEndTolerance = ClipRewardFixture.EndToEndTolerance;

    [Fact]
    public void NetworkPathMatchesOpenClipHpsDiagonal()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        using var model = ClipRewardFactory.CreateHps(HpsVersion.V2_0, fixture.Options());
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var pixels = fixture.Cases["pixel_values"];
        var pairs = (int)Math.Min(pixels.shape[0], fixture.Cases["text"].shape[0]);
        var diagonal = model.Score(pixels[..pairs], fixture.Cases["text"][..pairs]);
        var diff = ClipRewardFixture.MaxAbsDiff(diagonal, fixture.Cases["hps_pairwise_diag"]);
        output.WriteLine($"hps network path vs open_clip hps_pairwise_diag: max |diff| = {diff:E3}");
        Assert.True(diff <= NetworkTolerance, $"max |diff| {diff}");

        var (allPixels, allIds) = fixture.ExpandPairs(pixels, fixture.Cases["text"]);
        var all = model.Score(allPixels, allIds);
        var expected = fixture.Cases["image_features"].matmul(fixture.Cases["text_features"].t()).reshape(-1);
        var allDiff = ClipRewardFixture.MaxAbsDiff(all, expected);
        output.WriteLine($"hps network path vs image_features @ text_features.T (all pairs): max |diff| = {allDiff:E3}");
        Assert.True(allDiff <= NetworkTolerance, $"max |diff| {allDiff}");
    }

    [Fact]
    public void TokenizerReproducesOpenClipIdsPaddedWithZero()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        using var model = ClipRewardFactory.CreateHps(HpsVersion.V2_0, fixture.Options());
        var (ids, mask, _) = model.Tokenize(fixture.Prompts);
        using (ids)
        {
            Assert.Null(mask);
            Assert.Equal(fixture.Cases["text"].data<long>().ToArray(), ids.data<long>().ToArray());
        }
    }

    /// <summary>The fixture's inputs were made with the crop transform, so score with that transform for parity.</summary>
    [Fact]
    public async Task ScoresFixtureImagesEndToEndWithTheFixtureTransform()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        using var model = ClipRewardFactory.CreateHps(HpsVersion.V2_1, fixture.Options(imageTransform: "tensor-center-crop"));
        var results = await model.ScoreAsync(fixture.AllPairs(), TestContext.Current.CancellationToken);
        using var expected = fixture.Cases["image_features"].matmul(fixture.Cases["text_features"].t());
        var diff = ClipRewardFixture.MaxAbsDiff(results, expected);
        output.WriteLine($"hps end to end (tensor-center-crop) vs open_clip features: max |diff| = {diff:E3}");
        Assert.True(diff <= EndToEndTolerance, $"max |diff| {diff} > {EndToEndTolerance}");
    }

    /// <summary>The default transform is HPS v2's score() one: check it on the preprocess_hps fixture images, then
    /// check that scoring those files equals the network on the reference preprocessed tensors.</summary>
    [Fact]
    public async Task DefaultPreprocessingIsHpsResizeLongestAndPad()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        using var model = ClipRewardFactory.CreateHps(HpsVersion.V2_0, fixture.Options());
        Assert.Equal(ClipImageTransform.HpsResizeLongestPad, model.Images.Transform);
        using var doc = Fixtures.Json("preprocess_hps/cases.json");
        var names = doc.RootElement.GetProperty("images").EnumerateArray().Select(e => e.GetString()!).ToList();
        using var expectedFile = SafeTensorsFile.Open(Fixtures.File("preprocess_hps/expected.safetensors"));
        using var scope = NewDisposeScope();
        var references = new List<Tensor>();
        foreach (var name in names)
        {
            var size = model.Images.Size; // the checkpoint's image size; the fixture names its reference after it
            var reference = expectedFile.Load($"{name}/hps_resize_longest_pad_{size}", ScalarType.Float32);
            references.Add(reference);
            var actual = tensor(model.Images.Preprocess(File.ReadAllBytes(Fixtures.File($"preprocess_hps/{name}"))), [3, size, size]);
            var diff = ClipRewardFixture.MaxAbsDiff(actual, reference);
            output.WriteLine($"{name}: hps preprocessing max |diff| = {diff:E3}");
            Assert.True(diff <= PixelTolerance, $"{name}: max |diff| {diff}");
        }

        var prompt = fixture.Prompts[0];
        var requests = names.Select(n => new RewardRequest(ImageRef.FromFile(n, Fixtures.File($"preprocess_hps/{n}")), prompt)).ToList();
        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
        Tensor expected;
        using (no_grad()) expected = model.ScorePixels(stack(references), Enumerable.Repeat(prompt, names.Count).ToList());
        var scoreDiff = ClipRewardFixture.MaxAbsDiff(results, expected);
        output.WriteLine($"hps end to end (hps-pad) vs network on reference hps tensors: max |diff| = {scoreDiff:E3}");
        Assert.True(scoreDiff <= EndToEndTolerance, $"max |diff| {scoreDiff}");
    }

    [Fact]
    public void VersionIsNamedExplicitly()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        using var v20 = ClipRewardFactory.CreateHps(HpsVersion.V2_0, fixture.Options());
        using var v21 = ClipRewardFactory.CreateHps(HpsVersion.V2_1, fixture.Options());
        Assert.Equal(("hps-v2", "2.0"), (v20.Info.Name, v20.Info.Version));
        Assert.Equal(("hps-v2.1", "2.1"), (v21.Info.Name, v21.Info.Version));
        Assert.Contains("HPS_v2_compressed.pt", v20.Info.Semantics.Description);
        Assert.Contains("HPS_v2.1_compressed.pt", v21.Info.Semantics.Description);
        Assert.False(v20.Info.Semantics.ComparableAcrossPrompts);
        Assert.Equal((-1.0, 1.0), (v20.Info.Semantics.Minimum!.Value, v20.Info.Semantics.Maximum!.Value));
    }
}
