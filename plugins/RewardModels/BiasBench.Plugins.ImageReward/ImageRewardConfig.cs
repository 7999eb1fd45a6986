using System.Text.Json;
using BiasBench.Plugins.ImageReward.Network;

namespace BiasBench.Plugins.ImageReward;

/// <summary>BLIP's timm-style ViT (ImageReward uses ViT-L/16 at 224 px).</summary>
public sealed record VisionConfig(
    int ImageSize,
    int PatchSize,
    int EmbedDim,
    int Depth,
    int NumHeads,
    double MlpRatio,
    bool QkvBias,
    double NormEps)
{
    /// <summary>The ViT-L/16 that ImageReward's <c>BLIP_Pretrain(vit='large')</c> builds.</summary>
    public static VisionConfig VitLarge224 { get; } = new(224, 16, 1024, 24, 16, 4.0, true, 1e-6);

    public int GridSize => ImageSize / PatchSize;
    public int NumPatches => GridSize * GridSize;
    public int MlpHidden => (int)(EmbedDim * MlpRatio);

    public void Validate(string source)
    {
        if (ImageSize <= 0 || PatchSize <= 0 || ImageSize % PatchSize != 0)
            throw new InvalidDataException($"{source}: vision img_size {ImageSize} must be a positive multiple of patch_size {PatchSize}.");
        if (EmbedDim <= 0 || Depth <= 0 || NumHeads <= 0 || EmbedDim % NumHeads != 0)
            throw new InvalidDataException($"{source}: vision embed_dim {EmbedDim} must be a positive multiple of num_heads {NumHeads} (depth {Depth}).");
    }
}

/// <summary>BLIP's <c>med.py</c> BERT (a BertConfig plus <c>encoder_width</c> and <c>add_cross_attention</c>).</summary>
public sealed record TextConfig(
    int VocabSize,
    int HiddenSize,
    int NumLayers,
    int NumHeads,
    int IntermediateSize,
    int MaxPositionEmbeddings,
    double LayerNormEps,
    int EncoderWidth,
    string HiddenAct,
    bool AddCrossAttention)
{
    public void Validate(string source)
    {
        if (HiddenSize <= 0 || NumHeads <= 0 || HiddenSize % NumHeads != 0)
            throw new InvalidDataException($"{source}: hidden_size {HiddenSize} must be a positive multiple of num_attention_heads {NumHeads}.");
        if (NumLayers <= 0 || IntermediateSize <= 0 || VocabSize <= 0 || MaxPositionEmbeddings <= 0 || EncoderWidth <= 0)
            throw new InvalidDataException($"{source}: num_hidden_layers, intermediate_size, vocab_size, max_position_embeddings and encoder_width must be positive.");
        if (!AddCrossAttention)
            throw new InvalidDataException($"{source}: add_cross_attention must be true: ImageReward's text encoder attends to the image in every layer.");
        _ = Activations.Resolve(HiddenAct, source);
    }
}

/// <summary>Everything needed to build the network, plus the reward standardisation constants.</summary>
public sealed record ImageRewardConfig(VisionConfig Vision, TextConfig Text, double RewardMean, double RewardStd)
{
    /// <summary>The constants hard-coded in ImageReward's <c>ImageReward.__init__</c>.</summary>
    public const double ReleaseRewardMean = 0.16717362830052426;
    public const double ReleaseRewardStd = 1.0333394966054072;

    /// <summary>
    /// Reads either a combined config (<c>{"vision": {...}, "text": {...}, "reward_mean", "reward_std"}</c>) or a BLIP
    /// <c>med_config.json</c> (a BertConfig at top level). A med_config says nothing about the ViT, so
    /// <paramref name="visionFallback"/> supplies it (inferred from the weights, or ViT-L/16 for the release), and, as in
    /// <c>BLIP_Pretrain</c>, <c>encoder_width</c> is overridden with the ViT width.
    /// </summary>
    public static ImageRewardConfig Load(string path, Func<VisionConfig>? visionFallback = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ImageReward config '{path}' does not exist.", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e); }
        using (doc) return Parse(doc.RootElement, path, visionFallback);
    }

    public static ImageRewardConfig Parse(JsonElement root, string source, Func<VisionConfig>? visionFallback = null)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: expected a JSON object.");
        ImageRewardConfig config;
        if (root.TryGetProperty("text", out var text) && root.TryGetProperty("vision", out var vision))
        {
            var v = ParseVision(vision, source);
            config = new ImageRewardConfig(v, ParseText(text, source, encoderWidthOverride: null),
                GetDouble(root, "reward_mean", source, ReleaseRewardMean), GetDouble(root, "reward_std", source, ReleaseRewardStd));
        }
        else
        {
            var v = visionFallback?.Invoke() ?? VisionConfig.VitLarge224;
            config = new ImageRewardConfig(v, ParseText(root, source, encoderWidthOverride: v.EmbedDim),
                GetDouble(root, "reward_mean", source, ReleaseRewardMean), GetDouble(root, "reward_std", source, ReleaseRewardStd));
        }
        config.Vision.Validate(source);
        config.Text.Validate(source);
        if (config.Text.EncoderWidth != config.Vision.EmbedDim)
            throw new InvalidDataException($"{source}: text encoder_width {config.Text.EncoderWidth} differs from the vision embed_dim {config.Vision.EmbedDim}.");
        if (!(config.RewardStd > 0) || !double.IsFinite(config.RewardMean))
            throw new InvalidDataException($"{source}: reward_std must be positive and reward_mean finite (got {config.RewardMean}, {config.RewardStd}).");
        return config;
    }

    private static VisionConfig ParseVision(JsonElement e, string source) => new(
        GetInt(e, "img_size", source, 224),
        GetInt(e, "patch_size", source, 16),
        GetInt(e, "embed_dim", source),
        GetInt(e, "depth", source),
        GetInt(e, "num_heads", source),
        GetDouble(e, "mlp_ratio", source, 4.0),
        GetBool(e, "qkv_bias", source, true),
        GetDouble(e, "norm_eps", source, 1e-6));

    private static TextConfig ParseText(JsonElement e, string source, int? encoderWidthOverride)
    {
        var hidden = GetInt(e, "hidden_size", source);
        return new TextConfig(
            GetInt(e, "vocab_size", source),
            hidden,
            GetInt(e, "num_hidden_layers", source),
            GetInt(e, "num_attention_heads", source),
            GetInt(e, "intermediate_size", source),
            GetInt(e, "max_position_embeddings", source, 512),
            GetDouble(e, "layer_norm_eps", source, 1e-12),
            encoderWidthOverride ?? GetInt(e, "encoder_width", source, hidden),
            e.TryGetProperty("hidden_act", out var act) && act.ValueKind == JsonValueKind.String ? act.GetString()! : "gelu",
            GetBool(e, "add_cross_attention", source, true));
    }

    private static int GetInt(JsonElement e, string name, string source, int? fallback = null)
    {
        if (e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number)
        {
            if (p.TryGetInt32(out var i)) return i;
            var d = p.GetDouble();
            if (d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) return (int)d;
            throw new InvalidDataException($"{source}: '{name}' must be an integer, got {p.GetRawText()}.");
        }
        return fallback ?? throw new InvalidDataException($"{source}: required integer '{name}' is missing.");
    }

    private static double GetDouble(JsonElement e, string name, string source, double? fallback = null)
    {
        if (e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number) return p.GetDouble();
        if (e.TryGetProperty(name, out p) && p.ValueKind != JsonValueKind.Null)
            throw new InvalidDataException($"{source}: '{name}' must be a number, got {p.GetRawText()}.");
        return fallback ?? throw new InvalidDataException($"{source}: required number '{name}' is missing.");
    }

    private static bool GetBool(JsonElement e, string name, string source, bool fallback)
    {
        if (!e.TryGetProperty(name, out var p) || p.ValueKind == JsonValueKind.Null) return fallback;
        return p.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"{source}: '{name}' must be true or false, got {p.GetRawText()}."),
        };
    }
}
