using System.Text.Json;
using BiasBench.Networks.Clip;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>Where a CLIP model's config and weight files are, resolved from a folder or a single weights file.</summary>
public sealed record ClipCheckpoint(string ConfigSource, ClipConfig Config, IReadOnlyList<string> WeightFiles)
{
    private static readonly string[] CheckpointExtensions = [".safetensors", ".pt", ".pth", ".bin"];

    /// <summary>
    /// Resolves <paramref name="modelPath"/> (a folder or a weights file) and an optional explicit config.
    /// <paramref name="fallbackConfig"/> is used when no config is given or found (HPS: open_clip's ViT-H-14).
    /// </summary>
    public static ClipCheckpoint Resolve(string modelPath, string? configPath, ClipConfig? fallbackConfig = null, string? fallbackName = null)
    {
        if (string.IsNullOrWhiteSpace(modelPath)) throw new ArgumentException("model_path is empty.", nameof(modelPath));
        string folder;
        IReadOnlyList<string>? weights = null;
        if (Directory.Exists(modelPath)) folder = modelPath;
        else if (File.Exists(modelPath)) { folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!; weights = [modelPath]; }
        else throw new FileNotFoundException($"model_path '{modelPath}' is neither a file nor a folder.", modelPath);

        ClipConfig config;
        string source;
        if (!string.IsNullOrWhiteSpace(configPath))
        {
            (config, source) = (ReadConfig(configPath), configPath);
        }
        else if (FindConfig(folder) is { } found)
        {
            (config, source) = (ReadConfig(found), found);
        }
        else if (fallbackConfig is not null)
        {
            (config, source) = (fallbackConfig, fallbackName ?? "built-in config");
        }
        else
        {
            throw new FileNotFoundException($"No CLIP config for '{modelPath}': the folder has neither {ClipModel.HuggingFaceConfigFile} nor {ClipModel.OpenClipConfigFile}; set config_path.");
        }
        weights ??= FindWeights(folder, config.Layout);
        return new ClipCheckpoint(source, config, weights);
    }

    /// <summary>Reads a config, telling the layout from its content: Hugging Face configs have "vision_config",
    /// open_clip ones "vision_cfg" (possibly under "model_cfg").</summary>
    public static ClipConfig ReadConfig(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CLIP config '{path}' does not exist.", path);
        ClipLayout layout;
        using (var doc = ParseJson(path))
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: a CLIP config must be a JSON object.");
            if (root.TryGetProperty("vision_config", out _) || root.TryGetProperty("text_config", out _)) layout = ClipLayout.HuggingFace;
            else if (root.TryGetProperty("vision_cfg", out _) || root.TryGetProperty("model_cfg", out _)) layout = ClipLayout.OpenClip;
            else throw new InvalidDataException($"{path}: neither a Hugging Face CLIP config (vision_config/text_config) nor an open_clip one (vision_cfg/text_cfg).");
        }
        return ClipModel.ReadConfig(path, layout);
    }

    /// <summary>Builds the model on the CPU in float32; a checkpoint from another model throws
    /// <see cref="BiasBench.Torch.Weights.StateDictMismatchException"/> naming every missing, unexpected or mis-shaped tensor.</summary>
    public ClipModel Load()
    {
        if (WeightFiles.All(p => p.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)))
        {
            using var source = new SafeTensorsClipWeightSource(WeightFiles);
            return ClipModel.FromWeights(Config, source);
        }
        if (WeightFiles.Count != 1)
            throw new ArgumentException($"Pass either .safetensors files or a single PyTorch checkpoint, not [{string.Join(", ", WeightFiles)}].");
        var tensors = BiasBench.Torch.Weights.TorchCheckpoint.LoadStateDict(WeightFiles[0]);
        try
        {
            // DistributedDataParallel checkpoints (HPS v2) prefix every key with "module.".
            const string ddpPrefix = "module.";
            var state = tensors.Count > 0 && tensors.Keys.All(k => k.StartsWith(ddpPrefix, StringComparison.Ordinal))
                ? tensors.ToDictionary(kv => kv.Key[ddpPrefix.Length..], kv => kv.Value, StringComparer.Ordinal)
                : tensors;
            return ClipModel.FromWeights(Config, new InMemoryClipWeightSource(state, WeightFiles[0]));
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static string? FindConfig(string folder)
    {
        foreach (var name in new[] { ClipModel.OpenClipConfigFile, ClipModel.HuggingFaceConfigFile })
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    private static IReadOnlyList<string> FindWeights(string folder, ClipLayout layout)
    {
        var preferred = layout == ClipLayout.HuggingFace
            ? new[] { ClipModel.HuggingFaceWeightsFile, "pytorch_model.bin" }
            : new[] { ClipModel.OpenClipWeightsFile, "open_clip_pytorch_model.bin" };
        foreach (var name in preferred)
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path)) return [path];
        }
        var index = Path.Combine(folder, ClipModel.HuggingFaceIndexFile);
        if (layout == ClipLayout.HuggingFace && File.Exists(index)) return ShardsFromIndex(index, folder);
        var candidates = Directory.GetFiles(folder)
            .Where(f => CheckpointExtensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.Ordinal).ToList();
        return candidates.Count == 1 ? candidates
            : throw new FileNotFoundException(candidates.Count == 0
                ? $"'{folder}' holds no CLIP weights ({string.Join(", ", preferred)} or another .safetensors/.pt/.pth/.bin file)."
                : $"'{folder}' holds several weight files ({string.Join(", ", candidates.Select(Path.GetFileName))}); point model_path at one of them.");
    }

    private static IReadOnlyList<string> ShardsFromIndex(string index, string folder)
    {
        using var doc = ParseJson(index);
        if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{index}: no \"weight_map\" object.");
        return map.EnumerateObject()
            .Select(p => p.Value.GetString() ?? throw new InvalidDataException($"{index}: weight_map['{p.Name}'] is not a file name."))
            .Distinct(StringComparer.Ordinal).Select(f => Path.Combine(folder, f)).ToList();
    }

    private static JsonDocument ParseJson(string path)
    {
        try { return JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
    }

    /// <summary>open_clip's ViT-H-14 (model_configs/ViT-H-14.json), the architecture of HPS v2 / v2.1 and PickScore.</summary>
    public static ClipConfig OpenClipVitH14 { get; } = new(
        ClipLayout.OpenClip,
        new ClipVisionConfig(Width: 1280, Layers: 32, Heads: 1280 / 80, MlpWidth: 5120, PatchSize: 14, ImageSize: 224, Channels: 3,
            LayerNormEps: 1e-5, Activation: ClipActivation.Gelu),
        new ClipTextConfig(Width: 1024, Layers: 24, Heads: 16, MlpWidth: 4096, ContextLength: 77, VocabSize: 49408,
            LayerNormEps: 1e-5, Activation: ClipActivation.Gelu, Pooling: ClipTextPooling.ArgMaxId, EosTokenId: ClipConfig.ClipEndOfText),
        ProjectionDim: 1024);
}
