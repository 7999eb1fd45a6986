using System.Text;
using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Networks.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards.Tests;

/// <summary>
/// ScoreAsync's own compute path (chunking, per-item failures, the prompt-embedding cache, the score formula) on the
/// fixture's reference pixel tensors, so the comparison is exact to 1e-4 independently of image decoding.
/// </summary>
public sealed class ScoringPathParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    /// <summary>Serves the fixture's pixel_values for "case:i" bytes; anything else is undecodable.</summary>
    private sealed class FixturePixelsPipeline(Tensor pixelValues, ClipImageTransform transform) : IClipImagePipeline
    {
        private readonly float[][] _rows = Enumerable.Range(0, (int)pixelValues.shape[0])
            .Select(i => pixelValues[i].contiguous().data<float>().ToArray()).ToArray();

        public ClipImageTransform Transform => transform;
        public int Size { get; } = (int)pixelValues.shape[^1];

        public static byte[] Bytes(int index) => Encoding.ASCII.GetBytes($"case:{index}");

        public float[] Preprocess(ReadOnlyMemory<byte> encoded, string sourceName = "image")
        {
            var text = Encoding.ASCII.GetString(encoded.Span);
            if (text.StartsWith("case:", StringComparison.Ordinal) && int.TryParse(text[5..], out var i) && i >= 0 && i < _rows.Length)
                return (float[])_rows[i].Clone();
            throw new ImageDecodeException(sourceName, "not a fixture case.");
        }

        public Tensor PreprocessTensor(Tensor images) => TensorTransforms.ClipTensorPreprocess(images, ClipTransformKind.TensorCenterCrop, Size);
    }

    /// <summary>Every (image i, prompt j) pair with an undecodable item after each image's pairs; batch size 2 so
    /// chunks mix images, prompts and failures.</summary>
    private static List<RewardRequest> PairsWithFailures(ClipRewardFixture fixture, int images, out List<int> goodIndices)
    {
        var requests = new List<RewardRequest>();
        goodIndices = [];
        for (var i = 0; i < images; i++)
        {
            foreach (var prompt in fixture.Prompts)
            {
                goodIndices.Add(requests.Count);
                requests.Add(new RewardRequest(ImageRef.FromBytes($"case{i}", FixturePixelsPipeline.Bytes(i)), prompt));
            }
            requests.Add(new RewardRequest(ImageRef.FromBytes($"broken{i}", "broken"u8.ToArray()), fixture.Prompts[0]));
        }
        return requests;
    }

    /// <summary>The tokenizer for <paramref name="clip"/>: its context length comes from the checkpoint's config.</summary>
    private static ClipBpePromptTokenizer OpenClipTokenizer(ClipModel clip, long padId) =>
        ClipBpePromptTokenizer.FromOpenClip(ClipRewardFixture.BpePath(), padId, contextLength: clip.Config.Text.ContextLength);

    private void AssertScores(IReadOnlyList<RewardRequest> requests, IReadOnlyList<ItemResult<double>> results, List<int> good, Tensor expected, string label)
    {
        Assert.Equal(requests.Count, results.Count);
        for (var r = 0; r < results.Count; r++)
        {
            if (good.Contains(r)) continue;
            Assert.False(results[r].IsSuccess);
            Assert.Contains(requests[r].Image.Id, results[r].Error);
        }
        var diff = ClipRewardFixture.MaxAbsDiff(good.Select(r => results[r]).ToList(), expected);
        output.WriteLine($"{label}: ScoreAsync on reference pixels vs reference scores, max |diff| = {diff:E3}");
        Assert.True(diff <= Tolerance, $"{label}: max |diff| {diff} > {Tolerance}");
    }

    [Fact]
    public async Task PickScoreScoreAsyncMatchesLogitsPerImage()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        var clip = ClipCheckpoint.Resolve(fixture.Folder, null).Load();
        Assert.Equal(ClipLayout.HuggingFace, clip.Config.Layout);
        var pipeline = new FixturePixelsPipeline(fixture.Cases["pixel_values"], ClipImageTransform.PilCenterCrop);
        using var model = new PickScoreModel(clip, pipeline, OpenClipTokenizer(clip, ClipConfig.ClipEndOfText), batchSize: 2);
        var requests = PairsWithFailures(fixture, (int)fixture.Cases["pixel_values"].shape[0], out var good);
        // Twice: the second run takes the prompt embeddings from the cache.
        for (var run = 0; run < 2; run++)
        {
            var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
            AssertScores(requests, results, good, fixture.Cases["logits_per_image"].reshape(-1), $"pickscore run {run}");
        }
    }

    [Fact]
    public async Task HpsScoreAsyncMatchesTheFeatureDotProduct()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.OpenClip);
        var clip = ClipCheckpoint.Resolve(fixture.Folder, null).Load();
        Assert.Equal(ClipLayout.OpenClip, clip.Config.Layout);
        var pipeline = new FixturePixelsPipeline(fixture.Cases["pixel_values"], ClipImageTransform.HpsResizeLongestPad);
        using var model = new HpsV2Model(HpsVersion.V2_1, clip, pipeline, OpenClipTokenizer(clip, padId: 0), batchSize: 2);
        var requests = PairsWithFailures(fixture, (int)fixture.Cases["pixel_values"].shape[0], out var good);
        var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);
        using var expected = fixture.Cases["image_features"].matmul(fixture.Cases["text_features"].t()).reshape(-1);
        AssertScores(requests, results, good, expected, "hps");

        // The diagonal (image i with prompt i) is the fixture's own HPS score.
        var pairs = (int)fixture.Cases["hps_pairwise_diag"].shape[0];
        var diagonal = Enumerable.Range(0, pairs).Select(i => results[good[i * fixture.Prompts.Count + i]]).ToList();
        var diff = ClipRewardFixture.MaxAbsDiff(diagonal, fixture.Cases["hps_pairwise_diag"]);
        Assert.True(diff <= Tolerance, $"hps diagonal: max |diff| {diff}");
    }

    [Fact]
    public void PipelineSizeMustMatchTheVisionTower()
    {
        using var fixture = ClipRewardFixture.Open(ClipRewardFixture.HuggingFace);
        using var clip = ClipCheckpoint.Resolve(fixture.Folder, null).Load();
        using var small = zeros(1, 3, 32, 32);
        var error = Assert.Throws<ArgumentException>(() =>
            new PickScoreModel(clip, new FixturePixelsPipeline(small, ClipImageTransform.PilCenterCrop), OpenClipTokenizer(clip, ClipConfig.ClipEndOfText)));
        Assert.Contains("32px", error.Message);
    }
}
