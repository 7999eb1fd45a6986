using BiasBench.Networks.Clip;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Clip;

public sealed class ClipWeightMapTests
{
    [Theory]
    [InlineData(ClipFixture.HuggingFaceFolder)]
    [InlineData(ClipFixture.OpenClipFolder)]
    public void WeightMapCoversEveryParameterExactlyOnce(string fixture)
    {
        var config = ClipFixture.ReadConfig(ClipFixture.Folder(fixture));
        using var model = new ClipModel(config);
        var targets = ClipWeightMap.For(config).Select(b => b.Target).ToList();
        var parameters = model.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(targets.Count, targets.Distinct().Count());
        Assert.Equal(parameters.Order(StringComparer.Ordinal), targets.Order(StringComparer.Ordinal));
        Assert.Contains("vision.encoder.layers.0.attn.qkv.weight", parameters);
    }

    [Fact]
    public void HuggingFaceQkvProjectionsAreFusedInQueryKeyValueOrder()
    {
        var folder = ClipFixture.Folder(ClipFixture.HuggingFaceFolder);
        using var model = ClipModel.Load(folder);
        using var file = SafeTensorsFile.Open(ClipFixture.WeightsFile(folder));
        var fused = model.named_parameters().Single(p => p.name == "text.encoder.layers.0.attn.qkv.weight").parameter;
        var width = model.Config.Text.Width;
        var parts = new[] { "q_proj", "k_proj", "v_proj" };
        for (var i = 0; i < 3; i++)
        {
            using var expected = file.Load($"text_model.encoder.layers.0.self_attn.{parts[i]}.weight", ScalarType.Float32);
            using var slice = fused[(i * width)..((i + 1) * width)];
            Assert.True(slice.allclose(expected, rtol: 0, atol: 0), $"{parts[i]} block of the fused projection differs");
        }
    }

    [Fact]
    public void OpenClipProjectionIsTransposedIntoLinearLayout()
    {
        var folder = ClipFixture.Folder(ClipFixture.OpenClipFolder);
        using var model = ClipModel.Load(folder);
        using var file = SafeTensorsFile.Open(ClipFixture.WeightsFile(folder));
        using var proj = file.Load("visual.proj", ScalarType.Float32);
        var weight = model.named_parameters().Single(p => p.name == "vision.projection.weight").parameter;
        Assert.True(weight.allclose(proj.t(), rtol: 0, atol: 0));
    }
}
