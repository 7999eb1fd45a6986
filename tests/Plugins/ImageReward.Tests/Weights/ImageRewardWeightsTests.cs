using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Plugins.ImageReward.Network;
using BiasBench.Plugins.ImageReward.Weights;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Tests.Weights;

public sealed class ImageRewardWeightsTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("imagereward-tests-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void Weights_of_another_model_are_refused_with_the_missing_and_unexpected_tensors_listed()
    {
        using var fixture = ImageRewardFixture.Load();
        var clipWeights = Fixtures.File("clip_hf/model.safetensors");
        var e = Assert.Throws<StateDictMismatchException>(() =>
            ImageRewardLoader.Load(new ImageRewardFiles(clipWeights, fixture.ConfigFile), TensorPlacement.CpuFloat32));
        Assert.Contains("blip.visual_encoder.cls_token", e.Report.Missing);
        Assert.NotEmpty(e.Report.Unexpected);
        Assert.Contains(clipWeights, e.Message);
        Assert.Contains("blip.visual_encoder.cls_token", e.Message);
        Assert.Contains(e.Report.Unexpected[0], e.Message);
    }

    [Fact]
    public void A_checkpoint_with_one_wrong_shaped_tensor_fails_naming_that_tensor()
    {
        using var fixture = ImageRewardFixture.Load();
        using var file = SafeTensorsFile.Open(fixture.WeightsFile);
        var tensors = file.LoadAll();
        try
        {
            // A cross-attention key projection one input column short, as if made for a narrower ViT.
            var name = tensors.Keys.Where(k => k.EndsWith("crossattention.self.key.weight", StringComparison.Ordinal)).Order(StringComparer.Ordinal).Last();
            var original = tensors[name];
            tensors[name] = original.narrow(1, 0, original.shape[1] - 1).contiguous();
            original.Dispose();
            var broken = Path.Combine(_temp, "broken.safetensors");
            SafeTensorsFile.Save(broken, tensors);

            var e = Assert.Throws<StateDictMismatchException>(() =>
                ImageRewardLoader.Load(new ImageRewardFiles(broken, fixture.ConfigFile), TensorPlacement.CpuFloat32));
            var mismatch = Assert.Single(e.Report.Mismatched);
            Assert.Equal(name, mismatch.Name);
            Assert.Equal(tensors[name].shape, mismatch.CheckpointShape);
            Assert.Empty(e.Report.Missing);
            Assert.Empty(e.Report.Unexpected);
            Assert.Contains(name, e.Message);
            Assert.Contains(broken, e.Message);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void The_load_report_lists_loaded_and_ignored_tensors()
    {
        using var fixture = ImageRewardFixture.Load();
        using var file = SafeTensorsFile.Open(fixture.WeightsFile);
        var tensors = file.LoadAll();
        try
        {
            // Extra tensors a release checkpoint carries (contrastive projections, position ids) are ignored, not errors.
            tensors["blip.vision_proj.weight"] = zeros(4, 4);
            tensors["blip.text_encoder.embeddings.position_ids"] = arange(512L).unsqueeze(0);
            var extended = Path.Combine(_temp, "extended.safetensors");
            SafeTensorsFile.Save(extended, tensors);

            var (network, report) = ImageRewardLoader.LoadWithReport(new ImageRewardFiles(extended, fixture.ConfigFile), TensorPlacement.CpuFloat32);
            using (network)
            {
                Assert.True(report.IsExact);
                Assert.Equal(network.Parameters().Count, report.Loaded.Count);
                Assert.Equal(["blip.text_encoder.embeddings.position_ids", "blip.vision_proj.weight"], report.Ignored.Order(StringComparer.Ordinal));
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void A_config_that_does_not_fit_the_weights_lists_the_mis_shaped_tensors()
    {
        using var fixture = ImageRewardFixture.Load();
        var config = JsonNode.Parse(File.ReadAllText(fixture.ConfigFile))!;
        var intermediate = config["text"]!["intermediate_size"]!.GetValue<int>();
        config["text"]!["intermediate_size"] = intermediate * 2;
        var configFile = Path.Combine(_temp, "config.json");
        File.WriteAllText(configFile, config.ToJsonString());

        var e = Assert.Throws<StateDictMismatchException>(() =>
            ImageRewardLoader.Load(new ImageRewardFiles(fixture.WeightsFile, configFile), TensorPlacement.CpuFloat32));
        Assert.Empty(e.Report.Missing);
        Assert.Empty(e.Report.Unexpected);
        Assert.Contains(e.Report.Mismatched, m => m.Name == "blip.text_encoder.encoder.layer.0.intermediate.dense.weight");
        Assert.Contains($"[{intermediate}, ", e.Message);
    }

    [Theory]
    [InlineData("blip.text_encoder.embeddings.position_ids", true)]
    [InlineData("blip.vision_proj.weight", true)]
    [InlineData("blip.text_proj.bias", true)]
    [InlineData("blip.visual_encoder.norm.weight", false)]
    [InlineData("blip.text_encoder.encoder.layer.0.output.dense.weight", false)]
    [InlineData("mlp.layers.0.weight", false)]
    [InlineData("text_model.embeddings.position_ids", true)]
    [InlineData("logit_scale", false)]
    public void Only_tensors_scoring_never_uses_are_ignored(string name, bool ignored)
    {
        Assert.Equal(ignored, ImageRewardWeights.IsUnusedByScoring(name));
    }

    [Fact]
    public void The_vit_size_is_inferred_from_the_weights()
    {
        using var fixture = ImageRewardFixture.Load();
        using var source = ImageRewardStateDict.Open(fixture.WeightsFile);
        var inferred = ImageRewardWeights.InferVisionConfig(source.Shapes, fixture.WeightsFile);
        var expected = ImageRewardConfig.Load(fixture.ConfigFile).Vision;
        Assert.Equal(expected.ImageSize, inferred.ImageSize);
        Assert.Equal(expected.PatchSize, inferred.PatchSize);
        Assert.Equal(expected.EmbedDim, inferred.EmbedDim);
        Assert.Equal(expected.Depth, inferred.Depth);
        Assert.Equal(expected.MlpRatio, inferred.MlpRatio);
        Assert.Equal(expected.QkvBias, inferred.QkvBias);
    }

    [Fact]
    public void The_release_layout_med_config_plus_state_dict_loads()
    {
        using var fixture = ImageRewardFixture.Load();
        // A med_config.json is a BertConfig at top level; its encoder_width (768 in the release file) is replaced by the
        // ViT width (BLIP_Pretrain). A width this fixture's ViT does not have shows the replacement whatever its size.
        var expectedConfig = ImageRewardConfig.Load(fixture.ConfigFile);
        var text = JsonNode.Parse(File.ReadAllText(fixture.ConfigFile))!["text"]!.AsObject();
        text["encoder_width"] = expectedConfig.Vision.EmbedDim * 2 + 1;
        var medConfig = Path.Combine(_temp, "med_config.json");
        File.WriteAllText(medConfig, text.ToJsonString());

        var files = ImageRewardLoader.ResolveFiles(fixture.WeightsFile, medConfig);
        using var network = ImageRewardLoader.Load(files, TensorPlacement.CpuFloat32);
        var expected = ImageRewardConfig.Load(fixture.ConfigFile);
        Assert.Equal(expected.Vision.EmbedDim, network.Config.Text.EncoderWidth);
        Assert.Equal(expected.Text with { EncoderWidth = 0 }, network.Config.Text with { EncoderWidth = 0 });
        Assert.Equal(ImageRewardConfig.ReleaseRewardMean, network.Config.RewardMean);
        Assert.Equal(ImageRewardConfig.ReleaseRewardStd, network.Config.RewardStd);
        using var noGrad = no_grad();
        using var embeds = network.ImageEmbeds(fixture.PixelValues);
        Assert.Equal(fixture.ExpectedImageEmbeds.shape, embeds.shape);
    }

    [Fact]
    public void A_folder_is_searched_for_weights_and_config()
    {
        using var fixture = ImageRewardFixture.Load();
        var files = ImageRewardLoader.ResolveFiles(fixture.Folder, null);
        Assert.Equal(fixture.ConfigFile, files.ConfigFile);
        Assert.EndsWith(".safetensors", files.WeightsFile);
        Assert.Throws<FileNotFoundException>(() => ImageRewardLoader.ResolveFiles(Path.Combine(_temp, "nope.pt"), null));
        Assert.Throws<FileNotFoundException>(() => ImageRewardLoader.ResolveFiles(_temp, null));
    }

    [Fact]
    public void PyTorch_checkpoints_are_read_with_the_restricted_reader()
    {
        TorchBackend.EnsureInitialized();
        var casesPath = Fixtures.File("torch_checkpoints/cases.json");
        var folder = Path.GetDirectoryName(casesPath)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(casesPath));
        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        foreach (var name in doc.RootElement.GetProperty("files").EnumerateArray().Select(e => e.GetString()!))
        {
            using var source = ImageRewardStateDict.Open(Path.Combine(folder, name));
            Assert.Equal(expected.Entries.Keys.Order(), source.Shapes.Keys.Order());
            foreach (var (key, entry) in expected.Entries)
            {
                Assert.Equal(entry.Shape, source.Shapes[key]);
                if (!is_floating_point(empty(0, SafeTensorsFile.ToScalarType(entry.DType)))) continue;
                using var a = source.Tensors[key].to(ScalarType.Float32);
                using var b = expected.Load(key, ScalarType.Float32);
                Assert.True(ImageRewardFixture.MaxAbsDiff(a, b) == 0, $"{name}: {key}");
            }
        }
    }

    [Fact]
    public void Malicious_checkpoints_are_refused()
    {
        TorchBackend.EnsureInitialized();
        var casesPath = Fixtures.File("torch_checkpoints/cases.json");
        var folder = Path.GetDirectoryName(casesPath)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(casesPath));
        foreach (var name in doc.RootElement.GetProperty("malicious").EnumerateArray().Select(e => e.GetString()!))
        {
            var e = Assert.ThrowsAny<Exception>(() => ImageRewardStateDict.Open(Path.Combine(folder, name)).Dispose());
            Assert.Contains("system", e.Message, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void Unknown_weight_formats_are_refused()
    {
        var file = Path.Combine(_temp, "weights.onnx");
        File.WriteAllBytes(file, [1, 2, 3]);
        var e = Assert.Throws<NotSupportedException>(() => ImageRewardStateDict.Open(file));
        Assert.Contains(".onnx", e.Message);
    }
}
