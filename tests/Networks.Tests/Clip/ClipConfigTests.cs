using BiasBench.Networks.Clip;
using BiasBench.Torch.Weights;

namespace BiasBench.Networks.Tests.Clip;

public sealed class ClipConfigTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("clip-config-tests").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void HuggingFaceConfigAgreesWithTheCheckpointShapes()
    {
        var folder = ClipFixture.Folder(ClipFixture.HuggingFaceFolder);
        var config = ClipFixture.ReadConfig(folder);
        using var weights = SafeTensorsFile.Open(ClipFixture.WeightsFile(folder));
        long[] Shape(string name) => weights.Entries[name].Shape;

        Assert.Equal(ClipLayout.HuggingFace, config.Layout);
        Assert.Equal(Shape("vision_model.embeddings.class_embedding")[0], config.Vision.Width);
        Assert.Equal(Shape("vision_model.embeddings.patch_embedding.weight")[3], config.Vision.PatchSize);
        Assert.Equal(Shape("vision_model.embeddings.position_embedding.weight")[0], config.Vision.Positions);
        Assert.Equal(Shape("vision_model.encoder.layers.0.mlp.fc1.weight")[0], config.Vision.MlpWidth);
        Assert.Equal(weights.Entries.Keys.Count(k => k.StartsWith("vision_model.encoder.layers.") && k.EndsWith(".layer_norm1.weight")), config.Vision.Layers);
        Assert.Equal(weights.Entries.Keys.Count(k => k.StartsWith("text_model.encoder.layers.") && k.EndsWith(".layer_norm1.weight")), config.Text.Layers);
        Assert.Equal(Shape("text_model.embeddings.position_embedding.weight")[0], config.Text.ContextLength);
        Assert.Equal(Shape("text_projection.weight")[0], config.ProjectionDim);
        // The fixture's ids are padded with the end token, so pooling must take its first occurrence.
        Assert.Equal(ClipTextPooling.FirstEos, config.Text.Pooling);
        Assert.Equal(ClipConfig.ClipEndOfText, config.Text.EosTokenId);
    }

    [Fact]
    public void OpenClipConfigAgreesWithTheCheckpointShapes()
    {
        var folder = ClipFixture.Folder(ClipFixture.OpenClipFolder);
        var config = ClipFixture.ReadConfig(folder);
        using var weights = SafeTensorsFile.Open(ClipFixture.WeightsFile(folder));
        long[] Shape(string name) => weights.Entries[name].Shape;

        Assert.Equal(ClipLayout.OpenClip, config.Layout);
        Assert.Equal(Shape("visual.class_embedding")[0], config.Vision.Width);
        Assert.Equal(Shape("visual.conv1.weight")[3], config.Vision.PatchSize);
        Assert.Equal(Shape("visual.positional_embedding")[0], config.Vision.Positions);
        Assert.Equal(Shape("visual.transformer.resblocks.0.mlp.c_fc.weight")[0], config.Vision.MlpWidth);
        Assert.Equal(Shape("transformer.resblocks.0.mlp.c_fc.weight")[0], config.Text.MlpWidth);
        Assert.Equal(Shape("positional_embedding")[0], config.Text.ContextLength);
        Assert.Equal(Shape("text_projection")[1], config.ProjectionDim);
        Assert.Equal(ClipTextPooling.ArgMaxId, config.Text.Pooling);
        Assert.Equal(1e-5, config.Vision.LayerNormEps);
    }

    [Fact]
    public void HuggingFaceLegacyEosIdSelectsArgMaxPoolingAndDefaultsFillAbsentKeys()
    {
        var path = Write("config.json", """{"text_config": {"eos_token_id": 2, "hidden_act": "gelu"}, "vision_config": {"patch_size": 14, "hidden_size": 1280, "num_attention_heads": 16}}""");
        var config = ClipConfig.FromHuggingFaceJson(path);
        Assert.Equal(ClipTextPooling.ArgMaxId, config.Text.Pooling);
        Assert.Equal(ClipActivation.Gelu, config.Text.Activation);
        Assert.Equal(ClipActivation.QuickGelu, config.Vision.Activation); // CLIPVisionConfig's default
        Assert.Equal(512, config.Text.Width);
        Assert.Equal(257, config.Vision.Positions);
    }

    [Fact]
    public void OpenClipQuickGeluFlagAndNestedModelCfgAreRead()
    {
        var path = Write("open_clip_config.json", """{"model_cfg": {"embed_dim": 1024, "quick_gelu": true, "vision_cfg": {"image_size": 224, "layers": 32, "width": 1280, "head_width": 80, "patch_size": 14}, "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1024, "heads": 16, "layers": 24}}}""");
        var config = ClipConfig.FromOpenClipJson(path);
        Assert.Equal(ClipActivation.QuickGelu, config.Vision.Activation);
        Assert.Equal(ClipActivation.QuickGelu, config.Text.Activation);
        Assert.Equal(16, config.Vision.Heads);
        Assert.Equal(5120, config.Vision.MlpWidth);
        Assert.Equal(4096, config.Text.MlpWidth);
        Assert.Equal(1024, config.ProjectionDim);
    }

    [Theory]
    [InlineData("""{"vision_cfg": {"timm_model_name": "vit_base"}, "text_cfg": {}}""", "timm_model_name")]
    [InlineData("""{"vision_cfg": {"layers": [3, 4, 6, 3]}, "text_cfg": {}}""", "ModifiedResNet")]
    [InlineData("""{"vision_cfg": {}, "text_cfg": {"hf_model_name": "roberta-base"}}""", "hf_model_name")]
    [InlineData("""{"vision_cfg": {"width": 100, "head_width": 64}, "text_cfg": {}}""", "head_width")]
    [InlineData("""{"vision_cfg": {}, "text_cfg": {"pool_type": "last"}}""", "pool_type")]
    public void UnsupportedOpenClipConfigsAreRejectedByName(string json, string expectedInMessage)
    {
        var path = Write("open_clip_config.json", json);
        var e = Assert.ThrowsAny<Exception>(() => ClipConfig.FromOpenClipJson(path));
        Assert.Contains(expectedInMessage, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void UnknownHuggingFaceActivationIsRejected()
    {
        var path = Write("config.json", """{"text_config": {"hidden_act": "relu"}, "vision_config": {}}""");
        var e = Assert.Throws<NotSupportedException>(() => ClipConfig.FromHuggingFaceJson(path));
        Assert.Contains("text_config.hidden_act", e.Message);
    }

    private string Write(string name, string json)
    {
        var path = Path.Combine(_temp, name);
        File.WriteAllText(path, json);
        return path;
    }
}
