using BiasBench.Networks.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Clip;

public sealed class ClipTowersTests
{
    [Theory]
    [InlineData(ClipFixture.HuggingFaceFolder)]
    [InlineData(ClipFixture.OpenClipFolder)]
    public void PooledTextFeatureDependsOnlyOnTokensUpToTheFirstEndToken(string fixture)
    {
        var folder = ClipFixture.Folder(fixture);
        using var model = ClipModel.Load(folder);
        var cases = ClipFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            var ids = cases.TryGetValue("input_ids", out var hfIds) ? hfIds : cases["text"];
            using var padded = model.TextFeatures(ids);
            for (var row = 0; row < ids.shape[0]; row++)
            {
                // The same prompt cut right after its end token must give the same pooled feature.
                var end = ids[row].eq(ClipConfig.ClipEndOfText).nonzero()[0, 0].item<long>();
                using var trimmed = ids[row..(row + 1), ..(int)(end + 1)].clone();
                using var alone = model.TextFeatures(trimmed);
                var diff = ClipFixture.MaxAbsDiff(alone[0], padded[row]);
                Assert.True(diff < 1e-5, $"row {row}: trimmed vs padded max |diff| {diff:E2}");
            }
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void TextLongerThanTheContextIsRejected()
    {
        var folder = ClipFixture.Folder(ClipFixture.OpenClipFolder);
        using var model = ClipModel.Load(folder);
        var context = model.Config.Text.ContextLength;
        using var ids = zeros(1, context + 1, ScalarType.Int64);
        var e = Assert.Throws<ArgumentException>(() => model.EncodeText(ids));
        Assert.Contains($"1..{context} tokens", e.Message);
    }

    [Fact]
    public void MaskShapeMustMatchTheIds()
    {
        var folder = ClipFixture.Folder(ClipFixture.HuggingFaceFolder);
        using var model = ClipModel.Load(folder);
        using var ids = zeros(2, 5, ScalarType.Int64);
        using var mask = ones(2, 4, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.EncodeText(ids, mask));
    }
}
