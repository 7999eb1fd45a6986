using System.Globalization;
using System.Text.Json;

namespace BiasBench.Networks.Clip;

/// <summary>Which checkpoint format a CLIP model comes from.</summary>
public enum ClipLayout
{
    /// <summary>Hugging Face transformers <c>CLIPModel</c> (config.json + model.safetensors), e.g. PickScore.</summary>
    HuggingFace,

    /// <summary>open_clip <c>CLIP</c> (open_clip_config.json + open_clip state dict), e.g. HPS v2.</summary>
    OpenClip,
}

/// <summary>The MLP non-linearity of the transformer blocks.</summary>
public enum ClipActivation
{
    /// <summary>Exact GELU, 0.5 x (1 + erf(x / sqrt 2)).</summary>
    Gelu,

    /// <summary>OpenAI's x * sigmoid(1.702 x).</summary>
    QuickGelu,

    /// <summary>The tanh approximation of GELU (transformers' "gelu_new" / "gelu_pytorch_tanh").</summary>
    GeluTanh,
}

/// <summary>Which token of the final text hidden states becomes the pooled text feature.</summary>
public enum ClipTextPooling
{
    /// <summary>Position of the largest id (the end-of-text token has the largest id in CLIP's vocabulary);
    /// open_clip's "argmax" and transformers' legacy behaviour when <c>eos_token_id == 2</c>.</summary>
    ArgMaxId,

    /// <summary>First position holding <see cref="ClipTextConfig.EosTokenId"/> (transformers with a real eos id);
    /// needed when padding also uses the end token.</summary>
    FirstEos,
}

public sealed record ClipVisionConfig(
    int Width,
    int Layers,
    int Heads,
    int MlpWidth,
    int PatchSize,
    int ImageSize,
    int Channels,
    double LayerNormEps,
    ClipActivation Activation)
{
    public int GridSize => ImageSize / PatchSize;
    public int Positions => GridSize * GridSize + 1;
}

public sealed record ClipTextConfig(
    int Width,
    int Layers,
    int Heads,
    int MlpWidth,
    int ContextLength,
    int VocabSize,
    double LayerNormEps,
    ClipActivation Activation,
    ClipTextPooling Pooling,
    long EosTokenId);

/// <summary>Everything needed to build a CLIP model, independent of the checkpoint layout.</summary>
public sealed record ClipConfig(ClipLayout Layout, ClipVisionConfig Vision, ClipTextConfig Text, int ProjectionDim)
{
    /// <summary>CLIP's end-of-text token id (BPE vocabulary of 49408 entries).</summary>
    public const long ClipEndOfText = 49407;

    /// <summary>Reads a transformers <c>CLIPModel</c> config.json; absent keys take CLIPConfig's defaults.</summary>
    public static ClipConfig FromHuggingFaceJson(string path)
    {
        using var doc = ParseFile(path);
        var root = doc.RootElement;
        var text = Section(root, "text_config");
        var vision = Section(root, "vision_config");
        var where = $"{path}: ";

        var textConfig = HuggingFaceText(text, where + "text_config");

        var visionConfig = new ClipVisionConfig(
            Width: Int(vision, "hidden_size", 768, where + "vision_config"),
            Layers: Int(vision, "num_hidden_layers", 12, where + "vision_config"),
            Heads: Int(vision, "num_attention_heads", 12, where + "vision_config"),
            MlpWidth: Int(vision, "intermediate_size", 3072, where + "vision_config"),
            PatchSize: Int(vision, "patch_size", 32, where + "vision_config"),
            ImageSize: Int(vision, "image_size", 224, where + "vision_config"),
            Channels: Int(vision, "num_channels", 3, where + "vision_config"),
            LayerNormEps: Double(vision, "layer_norm_eps", 1e-5, where + "vision_config"),
            Activation: HfActivation(Str(vision, "hidden_act", "quick_gelu", where + "vision_config"), where + "vision_config.hidden_act"));

        var config = new ClipConfig(ClipLayout.HuggingFace, visionConfig, textConfig, Int(root, "projection_dim", 512, path));
        config.Validate(path);
        return config;
    }

    /// <summary>Reads a transformers <c>CLIPTextModel</c> config.json (the text encoder alone, as in Stable Diffusion's
    /// <c>text_encoder/</c> folder): the text settings sit at the top level; absent keys take CLIPTextConfig's defaults.</summary>
    public static ClipTextConfig FromHuggingFaceTextModelJson(string path)
    {
        using var doc = ParseFile(path);
        var root = doc.RootElement;
        // A full CLIPModel config also works: take its text section.
        var text = root.TryGetProperty("text_config", out var nested) && nested.ValueKind == JsonValueKind.Object ? nested : root;
        var config = HuggingFaceText(text, $"{path}: text config");
        if (config.Width <= 0 || config.Heads <= 0 || config.Width % config.Heads != 0)
            throw new InvalidDataException($"{path}: hidden_size {config.Width} must be a positive multiple of num_attention_heads {config.Heads}.");
        if (config.ContextLength <= 0 || config.VocabSize <= 0 || config.MlpWidth <= 0 || config.Layers < 0)
            throw new InvalidDataException($"{path}: context length, vocabulary size, intermediate size and layer count must be positive.");
        return config;
    }

    private static ClipTextConfig HuggingFaceText(JsonElement text, string where)
    {
        var textWidth = Int(text, "hidden_size", 512, where);
        var textHeads = Int(text, "num_attention_heads", 8, where);
        // transformers keeps the legacy argmax pooling when eos_token_id is still the old default 2.
        var eos = Long(text, "eos_token_id", 2, where);
        var textConfig = new ClipTextConfig(
            Width: textWidth,
            Layers: Int(text, "num_hidden_layers", 12, where),
            Heads: textHeads,
            MlpWidth: Int(text, "intermediate_size", 2048, where),
            ContextLength: Int(text, "max_position_embeddings", 77, where),
            VocabSize: Int(text, "vocab_size", 49408, where),
            LayerNormEps: Double(text, "layer_norm_eps", 1e-5, where),
            Activation: HfActivation(Str(text, "hidden_act", "quick_gelu", where), where + ".hidden_act"),
            Pooling: eos == 2 ? ClipTextPooling.ArgMaxId : ClipTextPooling.FirstEos,
            EosTokenId: eos);

        return textConfig;
    }

    /// <summary>Reads an open_clip model config (open_clip_config.json, or a model_cfg JSON such as ViT-H-14.json).
    /// Only the plain ViT image tower and the built-in text transformer are supported.</summary>
    public static ClipConfig FromOpenClipJson(string path)
    {
        using var doc = ParseFile(path);
        var root = doc.RootElement;
        // open_clip_config.json written by open_clip's hub export nests the model config under "model_cfg".
        if (root.TryGetProperty("model_cfg", out var nested) && nested.ValueKind == JsonValueKind.Object) root = nested;
        var text = Section(root, "text_cfg");
        var vision = Section(root, "vision_cfg");
        var where = $"{path}: ";

        foreach (var key in new[] { "timm_model_name", "attentional_pool", "attn_pooler_queries", "ls_init_value" })
            RejectIfSet(vision, key, where + "vision_cfg");
        if (vision.TryGetProperty("layers", out var visionLayers) && visionLayers.ValueKind == JsonValueKind.Array)
            throw new NotSupportedException($"{path}: vision_cfg.layers is a list (a ModifiedResNet image tower); only ViT towers are supported.");
        if (Bool(vision, "global_average_pool", false, where + "vision_cfg"))
            throw new NotSupportedException($"{path}: vision_cfg.global_average_pool=true is not supported (class-token pooling only).");
        if (Bool(vision, "no_ln_pre", false, where + "vision_cfg"))
            throw new NotSupportedException($"{path}: vision_cfg.no_ln_pre=true is not supported.");
        var visionPool = Str(vision, "pool_type", "tok", where + "vision_cfg");
        if (visionPool != "tok")
            throw new NotSupportedException($"{path}: vision_cfg.pool_type '{visionPool}' is not supported (only 'tok').");

        foreach (var key in new[] { "hf_model_name", "ls_init_value" })
            RejectIfSet(text, key, where + "text_cfg");
        if (Bool(text, "embed_cls", false, where + "text_cfg") || Bool(text, "no_causal_mask", false, where + "text_cfg") || Bool(text, "proj_bias", false, where + "text_cfg"))
            throw new NotSupportedException($"{path}: text_cfg.embed_cls / no_causal_mask / proj_bias are not supported.");
        var textPool = Str(text, "pool_type", "argmax", where + "text_cfg");
        if (textPool != "argmax")
            throw new NotSupportedException($"{path}: text_cfg.pool_type '{textPool}' is not supported (only 'argmax').");

        var activation = Bool(root, "quick_gelu", false, path) ? ClipActivation.QuickGelu : ClipActivation.Gelu;
        const double openClipLayerNormEps = 1e-5; // torch.nn.LayerNorm's default, used by open_clip throughout.

        var visionWidth = Int(vision, "width", 768, where + "vision_cfg");
        var headWidth = Int(vision, "head_width", 64, where + "vision_cfg");
        if (headWidth <= 0 || visionWidth % headWidth != 0)
            throw new InvalidDataException($"{path}: vision_cfg.width {visionWidth} is not a multiple of head_width {headWidth}.");
        var visionMlpRatio = Double(vision, "mlp_ratio", 4.0, where + "vision_cfg");
        var visionConfig = new ClipVisionConfig(
            Width: visionWidth,
            Layers: Int(vision, "layers", 12, where + "vision_cfg"),
            Heads: visionWidth / headWidth,
            MlpWidth: (int)(visionWidth * visionMlpRatio),
            PatchSize: SquareInt(vision, "patch_size", 16, where + "vision_cfg"),
            ImageSize: SquareInt(vision, "image_size", 224, where + "vision_cfg"),
            Channels: 3,
            LayerNormEps: openClipLayerNormEps,
            Activation: activation);

        var textWidth = Int(text, "width", 512, where + "text_cfg");
        var textMlpRatio = Double(text, "mlp_ratio", 4.0, where + "text_cfg");
        var textConfig = new ClipTextConfig(
            Width: textWidth,
            Layers: Int(text, "layers", 12, where + "text_cfg"),
            Heads: Int(text, "heads", 8, where + "text_cfg"),
            MlpWidth: (int)(textWidth * textMlpRatio),
            ContextLength: Int(text, "context_length", 77, where + "text_cfg"),
            VocabSize: Int(text, "vocab_size", 49408, where + "text_cfg"),
            LayerNormEps: openClipLayerNormEps,
            Activation: activation,
            Pooling: ClipTextPooling.ArgMaxId,
            EosTokenId: ClipEndOfText);

        var config = new ClipConfig(ClipLayout.OpenClip, visionConfig, textConfig, Int(root, "embed_dim", 512, path));
        config.Validate(path);
        return config;
    }

    /// <summary>Throws when the sizes cannot describe a working model (heads not dividing the width, ...).</summary>
    public void Validate(string source = "CLIP config")
    {
        void Check(bool ok, string message)
        {
            if (!ok) throw new InvalidDataException($"{source}: {message}");
        }

        Check(ProjectionDim > 0, $"projection dim must be positive (got {ProjectionDim}).");
        Check(Vision.Width > 0 && Vision.Heads > 0 && Vision.Width % Vision.Heads == 0, $"vision width {Vision.Width} must be a positive multiple of the head count {Vision.Heads}.");
        Check(Text.Width > 0 && Text.Heads > 0 && Text.Width % Text.Heads == 0, $"text width {Text.Width} must be a positive multiple of the head count {Text.Heads}.");
        Check(Vision.Layers >= 0 && Text.Layers >= 0, "layer counts must not be negative.");
        Check(Vision.MlpWidth > 0 && Text.MlpWidth > 0, "MLP widths must be positive.");
        Check(Vision.PatchSize > 0 && Vision.ImageSize % Vision.PatchSize == 0, $"image size {Vision.ImageSize} must be a multiple of the patch size {Vision.PatchSize}.");
        Check(Text.ContextLength > 0 && Text.VocabSize > 0, "text context length and vocabulary size must be positive.");
    }

    private static JsonDocument ParseFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CLIP config '{path}' does not exist.", path);
        try { return JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
    }

    private static JsonElement Section(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Object ? e : default;

    private static bool Has(JsonElement e, string key, out JsonElement value)
    {
        value = default;
        return e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;
    }

    private static int Int(JsonElement e, string key, int fallback, string where) => checked((int)Long(e, key, fallback, where));

    private static long Long(JsonElement e, string key, long fallback, string where)
    {
        if (!Has(e, key, out var v)) return fallback;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l)) return l;
        throw new InvalidDataException($"{where}.{key} must be an integer (got {v.GetRawText()}).");
    }

    private static int SquareInt(JsonElement e, string key, int fallback, string where)
    {
        if (Has(e, key, out var v) && v.ValueKind == JsonValueKind.Array)
        {
            var items = v.EnumerateArray().Select(x => x.GetInt32()).Distinct().ToArray();
            if (items.Length != 1) throw new NotSupportedException($"{where}.{key} = {v.GetRawText()}: only square sizes are supported.");
            return items[0];
        }
        return Int(e, key, fallback, where);
    }

    private static double Double(JsonElement e, string key, double fallback, string where)
    {
        if (!Has(e, key, out var v)) return fallback;
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        throw new InvalidDataException($"{where}.{key} must be a number (got {v.GetRawText()}).");
    }

    private static bool Bool(JsonElement e, string key, bool fallback, string where)
    {
        if (!Has(e, key, out var v)) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"{where}.{key} must be true or false (got {v.GetRawText()})."),
        };
    }

    private static string Str(JsonElement e, string key, string fallback, string where)
    {
        if (!Has(e, key, out var v)) return fallback;
        if (v.ValueKind == JsonValueKind.String) return v.GetString()!;
        throw new InvalidDataException($"{where}.{key} must be a string (got {v.GetRawText()}).");
    }

    private static void RejectIfSet(JsonElement e, string key, string where)
    {
        if (Has(e, key, out var v) && v.ValueKind != JsonValueKind.False)
            throw new NotSupportedException($"{where}.{key} = {v.GetRawText()} is not supported by this CLIP implementation.");
    }

    private static ClipActivation HfActivation(string name, string where) => name switch
    {
        "gelu" => ClipActivation.Gelu,
        "quick_gelu" => ClipActivation.QuickGelu,
        "gelu_new" or "gelu_pytorch_tanh" => ClipActivation.GeluTanh,
        _ => throw new NotSupportedException($"{where} = '{name}' is not supported (gelu, quick_gelu, gelu_new, gelu_pytorch_tanh)."),
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"CLIP[{Layout}] vision {Vision.Layers}x{Vision.Width} ({Vision.Heads} heads, patch {Vision.PatchSize}, {Vision.ImageSize}px), text {Text.Layers}x{Text.Width} ({Text.Heads} heads, ctx {Text.ContextLength}), embed {ProjectionDim}");
}
