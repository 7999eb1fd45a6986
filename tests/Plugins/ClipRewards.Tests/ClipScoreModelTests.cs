using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class ClipScoreModelTests(ITestOutputHelper output)
{
    [Fact]
    public async Task IsHundredTimesTheClampedCosine()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var model = ClipRewardFactory.CreateClipScore(fixture.Options());
        using var scope = NewDisposeScope();
        // Reference from the transformers embeddings: 100 * max(cos, 0) for every (image, prompt).
        var cosine = fixture.Cases["image_embeds"].matmul(fixture.Cases["text_embeds"].t());
        var expected = (100 * cosine.clamp_min(0)).reshape(-1);

        using (no_grad())
        {
            var (pixels, ids) = fixture.ExpandPairs(fixture.Cases["pixel_values"], fixture.Cases["input_ids"]);
            var (_, mask) = fixture.ExpandPairs(fixture.Cases["pixel_values"], fixture.Cases["attention_mask"]);
            var network = model.Score(pixels, ids, mask);
            var networkDiff = ClipRewardFixture.MaxAbsDiff(network, expected);
            output.WriteLine($"clip-score network path: max |diff| = {networkDiff:E3}");
            Assert.True(networkDiff <= 1e-4, $"max |diff| {networkDiff}");
        }

        var results = await model.ScoreAsync(fixture.AllPairs(), TestContext.Current.CancellationToken);
        var diff = ClipRewardFixture.MaxAbsDiff(results, expected);
        output.WriteLine($"clip-score end to end: max |diff| = {diff:E3} (scores {string.Join(", ", results.Select(r => r.Value.ToString("F3")))})");
        // Lossless fixture PNGs, PIL-exact preprocessing: the 1e-4 parity bound holds through the whole scoring path.
        Assert.True(diff <= 1e-4, $"max |diff| {diff}");
        Assert.All(results, r => Assert.InRange(r.Value, 0, 100));
        Assert.Equal("clip-score", model.Info.Name);
        Assert.False(model.Info.Semantics.ComparableAcrossPrompts);
        Assert.Equal((0.0, 100.0), (model.Info.Semantics.Minimum!.Value, model.Info.Semantics.Maximum!.Value));
    }

    [Fact]
    public void Positive_cosines_scale_by_100_and_negative_ones_clamp_to_zero()
    {
        // The random fixture model's cosines may all be negative, so the positive branch is pinned here by hand.
        using var scope = NewDisposeScope();
        var image = tensor(new float[] { 1, 0, 1, 0, 0, 1 }, [3, 2]);
        var text = tensor(new float[] { 0.6f, 0.8f, -1, 0, 0.28f, 0.96f }, [3, 2]);
        var scores = ClipScoreModel.FromEmbeddings(image, text).data<float>().ToArray();
        Assert.Equal(60f, scores[0], 4);
        Assert.Equal(0f, scores[1]);
        Assert.Equal(96f, scores[2], 4);
    }
}
