using BiasBench.Networks.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Clip;

public sealed class ClipModelTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void HuggingFaceLayoutMatchesTransformersOnEveryFixtureOutput()
    {
        var folder = ClipFixture.Folder(ClipFixture.HuggingFaceFolder);
        using var model = ClipModel.Load(folder);
        Assert.Equal(ClipLayout.HuggingFace, model.Config.Layout);
        var cases = ClipFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            using var result = model.Forward(cases["pixel_values"], cases["input_ids"], cases["attention_mask"]);
            using var logitScaleExp = model.LogitScale.exp().reshape(1);
            var actual = new Dictionary<string, Tensor>
            {
                ["image_embeds"] = result.ImageEmbeds,
                ["text_embeds"] = result.TextEmbeds,
                ["logits_per_image"] = result.LogitsPerImage,
                ["logit_scale_exp"] = logitScaleExp,
            };
            AssertAllOutputsMatch(cases, actual);
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void OpenClipLayoutMatchesOpenClipOnEveryFixtureOutput()
    {
        var folder = ClipFixture.Folder(ClipFixture.OpenClipFolder);
        using var model = ClipModel.Load(folder);
        Assert.Equal(ClipLayout.OpenClip, model.Config.Layout);
        var cases = ClipFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            // open_clip passes no padding mask: the causal mask alone keeps padding out of the pooled token.
            using var image = model.EncodeImage(cases["pixel_values"]);
            using var text = model.EncodeText(cases["text"]);
            var pairs = Math.Min(image.shape[0], text.shape[0]);
            // HPS v2 score: image i with prompt i.
            using var diagonal = (image[..(int)pairs] * text[..(int)pairs]).sum(-1);
            using var logitScale = model.LogitScale.reshape(1);
            var actual = new Dictionary<string, Tensor>
            {
                ["image_features"] = image,
                ["text_features"] = text,
                ["hps_pairwise_diag"] = diagonal,
                ["logit_scale"] = logitScale,
            };
            AssertAllOutputsMatch(cases, actual);
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void HuggingFaceTextPoolingIgnoresPaddingWhenNoMaskIsGiven()
    {
        // Padding follows the first end token, so the causal mask already hides it from the pooled position.
        var folder = ClipFixture.Folder(ClipFixture.HuggingFaceFolder);
        using var model = ClipModel.Load(folder);
        var cases = ClipFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            using var text = model.EncodeText(cases["input_ids"]);
            var diff = ClipFixture.MaxAbsDiff(text, cases["text_embeds"]);
            output.WriteLine($"text_embeds without attention mask: max |diff| = {diff:E2}");
            Assert.True(diff <= Tolerance, $"max |diff| {diff:E2}");
        }
        finally { cases.DisposeAll(); }
    }

    [Theory]
    [InlineData(ClipFixture.HuggingFaceFolder)]
    [InlineData(ClipFixture.OpenClipFolder)]
    public void ForwardKeepsTheGraphForGradientsWithRespectToPixelsAndWeights(string fixture)
    {
        var folder = ClipFixture.Folder(fixture);
        using var model = ClipModel.Load(folder);
        var cases = ClipFixture.Cases(folder);
        try
        {
            using var pixels = cases["pixel_values"].clone().requires_grad_(true);
            var ids = cases.TryGetValue("input_ids", out var hfIds) ? hfIds : cases["text"];
            using var result = model.Forward(pixels, ids);
            using var loss = result.LogitsPerImage.sum();
            loss.backward();
            Assert.NotNull(pixels.grad);
            Assert.True(pixels.grad!.abs().sum().item<float>() > 0, "pixel gradient is zero");
            var withGrad = model.parameters().Count(p => p.grad is not null && p.grad.abs().sum().item<float>() > 0);
            Assert.True(withGrad > model.parameters().Count() / 2, $"only {withGrad} parameters received a gradient");
            Assert.NotNull(model.LogitScale.grad);
        }
        finally { cases.DisposeAll(); }
    }

    [Theory]
    [InlineData(ClipFixture.HuggingFaceFolder, ScalarType.BFloat16, 0.1)]
    [InlineData(ClipFixture.OpenClipFolder, ScalarType.Float16, 0.02)]
    public void ReducedPrecisionWeightsGiveFloat32EmbeddingsCloseToFullPrecision(string fixture, ScalarType dtype, double tolerance)
    {
        var folder = ClipFixture.Folder(fixture);
        using var model = ClipModel.Load(folder);
        var cases = ClipFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            var ids = cases.TryGetValue("input_ids", out var hfIds) ? hfIds : cases["text"];
            using var full = model.Forward(cases["pixel_values"], ids);
            model.To(CPU, dtype);
            Assert.Equal(dtype, model.DType);
            Assert.All(model.parameters(), p => Assert.Equal(dtype, p.dtype));
            using var reduced = model.Forward(cases["pixel_values"], ids);
            Assert.Equal(ScalarType.Float32, reduced.ImageEmbeds.dtype);
            Assert.Equal(ScalarType.Float32, reduced.LogitsPerImage.dtype);
            var imageDiff = ClipFixture.MaxAbsDiff(reduced.ImageEmbeds, full.ImageEmbeds);
            var textDiff = ClipFixture.MaxAbsDiff(reduced.TextEmbeds, full.TextEmbeds);
            output.WriteLine($"{fixture} {dtype}: image max |diff| {imageDiff:E2}, text max |diff| {textDiff:E2}");
            Assert.True(imageDiff < tolerance && textDiff < tolerance, $"{dtype}: image {imageDiff:E2}, text {textDiff:E2}");
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void WrongImageSizeIsRejectedWithTheExpectedShape()
    {
        var folder = ClipFixture.Folder(ClipFixture.OpenClipFolder);
        using var model = ClipModel.Load(folder);
        var size = model.Config.Vision.ImageSize;
        using var pixels = zeros(1, 3, size + model.Config.Vision.PatchSize, size);
        var e = Assert.Throws<ArgumentException>(() => model.EncodeImage(pixels));
        Assert.Contains($"[batch, 3, {size}, {size}]", e.Message);
    }

    /// <summary>Every expected output in the fixture must have a computed counterpart within tolerance.</summary>
    private void AssertAllOutputsMatch(Dictionary<string, Tensor> cases, Dictionary<string, Tensor> actual)
    {
        var expectedNames = cases.Keys.Where(k => !ClipFixture.InputNames.Contains(k)).ToList();
        Assert.NotEmpty(expectedNames);
        var failures = new List<string>();
        foreach (var name in expectedNames)
        {
            if (!actual.TryGetValue(name, out var mine)) { failures.Add($"{name}: no computed counterpart"); continue; }
            var expected = cases[name];
            // Outputs stored in half precision are compared after rounding ours the same way.
            using var comparable = mine.to(expected.dtype).to(ScalarType.Float32);
            var diff = ClipFixture.MaxAbsDiff(comparable, expected.to(ScalarType.Float32));
            output.WriteLine($"{name} [{string.Join(", ", expected.shape)}] {expected.dtype}: max |diff| = {diff:E2}");
            if (!(diff <= Tolerance)) failures.Add($"{name}: max |diff| {diff:E2} > {Tolerance:E0}");
        }
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }
}
