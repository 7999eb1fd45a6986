using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards.Tests;

/// <summary>
/// clip_quickgelu/: transformers CLIPModel with quick_gelu (the OpenAI layout clip-score and laion-aesthetic-v2 load)
/// at a non-224/14 image and patch size, and improved-aesthetic-predictor's head saved with torch.save. Both plugins
/// are built by their factories from the fixture folder (config, weights, head .pth through the restricted reader) and
/// score the stored pixels and ids; clip_score and aesthetic come from the Python references, at 1e-4. (The fixture
/// stores preprocessed pixels, not image files, so decoding and resizing are covered by the other fixtures.)
/// </summary>
public sealed class QuickGeluScoringPathTests : IDisposable
{
    private const string FixtureName = "clip_quickgelu";
    private readonly ITestOutputHelper _output;
    private readonly string _folder;
    private readonly Dictionary<string, Tensor> _cases;
    private readonly int _imageSize;

    public QuickGeluScoringPathTests(ITestOutputHelper output)
    {
        _output = output;
        TorchBackend.EnsureInitialized();
        _folder = Fixtures.File(FixtureName);
        using var file = SafeTensorsFile.Open(Path.Combine(_folder, "cases.safetensors"));
        _cases = file.Entries.Keys.ToDictionary(k => k, k => file.Load(k));
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder, "config.json")));
        _imageSize = config.RootElement.GetProperty("vision_config").GetProperty("image_size").GetInt32();
    }

    public void Dispose()
    {
        foreach (var t in _cases.Values) t.Dispose();
    }

    private void AssertClose(string what, Tensor actual, Tensor expected)
    {
        var diff = ClipRewardFixture.MaxAbsDiff(actual, expected);
        _output.WriteLine($"{what}: max |diff| = {diff:E2}");
        Assert.True(diff <= ClipRewardFixture.NetworkTolerance, $"{what}: max |diff| {diff:E2}");
    }

    [Fact]
    public void Clip_score_plugin_gives_torchmetrics_clip_score_for_each_pair()
    {
        using var model = ClipRewardFactory.CreateClipScore(new ClipRewardOptions
        {
            ModelPath = _folder, TokenizerBpePath = ClipRewardFixture.BpePath(), Device = "cpu", Dtype = "float32",
        });
        Assert.Equal(_imageSize, model.Images.Size); // the preprocessing follows the checkpoint's config, not 224
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        AssertClose("clip-score image_embeds", model.Clip.EncodeImage(_cases["pixel_values"]), _cases["image_embeds"]);
        AssertClose("clip-score text_embeds", model.Clip.EncodeText(_cases["input_ids"]), _cases["text_embeds"]);
        // Pair i is image i with prompt i.
        AssertClose("clip-score clip_score", model.Score(_cases["pixel_values"], _cases["input_ids"]), _cases["clip_score"]);
        Assert.Equal("clip-score", model.Info.Name);
    }

    [Fact]
    public void Laion_aesthetic_plugin_applies_the_torch_saved_head_to_the_normalised_image_embedding()
    {
        var headPath = Path.Combine(_folder, "aesthetic_head.pth");
        using var model = ClipRewardFactory.CreateLaionAesthetic(new LaionAestheticOptions
        {
            ModelPath = _folder, HeadPath = headPath, Device = "cpu", Dtype = "float32",
        });
        Assert.Equal(_imageSize, model.Images.Size);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        AssertClose("laion-aesthetic-v2 image_embeds", model.Clip.EncodeImage(_cases["pixel_values"]), _cases["image_embeds"]);
        AssertClose("laion-aesthetic-v2 aesthetic", model.Score(_cases["pixel_values"], null), _cases["aesthetic"]);
        Assert.Equal(64, model.Info.WeightsChecksum!.Length);
    }
}
