using System.Text.Json;
using BiasBench.Networks.Clip;
using BiasBench.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Clip;

/// <summary>
/// transformers CLIPModel with hidden_act quick_gelu (OpenAI's layout, as openai/clip-vit-large-patch14), with an
/// image and patch size other than 224/14 (read from the fixture's config.json): every stored output at 1e-4.
/// </summary>
public sealed class ClipQuickGeluTests(ITestOutputHelper output)
{
    public const string Folder = "clip_quickgelu";
    private const double Tolerance = 1e-4;

    [Fact]
    public void QuickGeluModelMatchesTransformersOnEmbeddingsAndLogits()
    {
        var folder = ClipFixture.Folder(Folder);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, ClipModel.HuggingFaceConfigFile)));
        var vision = config.RootElement.GetProperty("vision_config");
        using var model = ClipModel.Load(folder);
        Assert.Equal(ClipActivation.QuickGelu, model.Config.Vision.Activation);
        Assert.Equal(ClipActivation.QuickGelu, model.Config.Text.Activation);
        Assert.Equal(vision.GetProperty("image_size").GetInt32(), model.Config.Vision.ImageSize);
        Assert.Equal(vision.GetProperty("patch_size").GetInt32(), model.Config.Vision.PatchSize);
        Assert.Equal(config.RootElement.GetProperty("projection_dim").GetInt32(), model.Config.ProjectionDim);

        var cases = ClipFixture.Cases(folder);
        try
        {
            using var noGrad = no_grad();
            // No attention mask is stored: the ids are padded after the end token, which the causal mask hides from
            // the pooled (first end) position.
            using var result = model.Forward(cases["pixel_values"], cases["input_ids"]);
            foreach (var (name, actual) in new[] { ("image_embeds", result.ImageEmbeds), ("text_embeds", result.TextEmbeds), ("logits_per_image", result.LogitsPerImage) })
            {
                var diff = ClipFixture.MaxAbsDiff(actual, cases[name]);
                output.WriteLine($"{name} [{string.Join(", ", cases[name].shape)}]: max |diff| = {diff:E2}");
                Assert.True(diff <= Tolerance, $"{name}: max |diff| {diff:E2}");
            }
        }
        finally { cases.DisposeAll(); }
    }
}
