using System.Text.Json;
using BiasBench.Torch.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Clip;

/// <summary>Outputs of a joint image/text pass; embeddings are L2-normalised float32.</summary>
public sealed record ClipOutput(Tensor ImageEmbeds, Tensor TextEmbeds, Tensor LogitsPerImage) : IDisposable
{
    public void Dispose()
    {
        ImageEmbeds.Dispose();
        TextEmbeds.Dispose();
        LogitsPerImage.Dispose();
    }
}

/// <summary>
/// CLIP image and text towers loaded from a Hugging Face <c>CLIPModel</c> checkpoint (PickScore) or an open_clip
/// <c>CLIP</c> state dict (HPS v2). Forward passes keep the autograd graph (no no_grad inside), so the model can be
/// fine-tuned or differentiated with respect to its inputs; wrap inference in <c>torch.no_grad()</c>.
/// Weights may live in fp16/bf16 on any device (<see cref="To"/>); normalisation and logits are computed in float32.
/// </summary>
public sealed class ClipModel : nn.Module
{
    public const string HuggingFaceConfigFile = "config.json";
    public const string HuggingFaceWeightsFile = "model.safetensors";
    public const string HuggingFaceIndexFile = "model.safetensors.index.json";
    public const string OpenClipConfigFile = "open_clip_config.json";
    public const string OpenClipWeightsFile = "open_clip_model.safetensors";

    private readonly ClipVisionTransformer vision;
    private readonly ClipTextTransformer text;
    private readonly Parameter logit_scale;

    /// <summary>A model with uninitialised weights; use <see cref="Load(string, ClipLayout?)"/> or <see cref="FromWeights"/>.</summary>
    public ClipModel(ClipConfig config) : base(nameof(ClipModel))
    {
        config.Validate();
        Config = config;
        vision = new ClipVisionTransformer(config.Vision, config.ProjectionDim);
        text = new ClipTextTransformer(config.Text, config.ProjectionDim);
        logit_scale = new Parameter(empty([]));
        RegisterComponents();
    }

    public ClipConfig Config { get; }
    public Device Device { get; private set; } = CPU;
    public ScalarType DType { get; private set; } = ScalarType.Float32;

    /// <summary>What loading did (every parameter filled; checkpoint buffers that were ignored).</summary>
    public LoadReport? LoadReport { get; private set; }

    public ClipVisionTransformer Vision => vision;
    public ClipTextTransformer Text => text;

    /// <summary>The learned log temperature (a 0-dim parameter); logits use exp() of it.</summary>
    public Tensor LogitScale => logit_scale;

    /// <summary>Loads a model folder: open_clip_config.json + open_clip_model.safetensors (open_clip), or config.json +
    /// model.safetensors / sharded model.safetensors.index.json (Hugging Face). The layout is detected from the config
    /// file present unless given.</summary>
    public static ClipModel Load(string directory, ClipLayout? layout = null)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"CLIP model folder '{directory}' does not exist.");
        var hasOpenClip = File.Exists(Path.Combine(directory, OpenClipConfigFile));
        var hasHf = File.Exists(Path.Combine(directory, HuggingFaceConfigFile));
        var chosen = layout ?? (hasOpenClip ? ClipLayout.OpenClip : hasHf ? ClipLayout.HuggingFace
            : throw new FileNotFoundException($"'{directory}' has neither {OpenClipConfigFile} (open_clip) nor {HuggingFaceConfigFile} (Hugging Face)."));
        return chosen == ClipLayout.OpenClip
            ? Load(Path.Combine(directory, OpenClipConfigFile), [FindOpenClipWeights(directory)], ClipLayout.OpenClip)
            : Load(Path.Combine(directory, HuggingFaceConfigFile), FindHuggingFaceWeights(directory), ClipLayout.HuggingFace);
    }

    /// <summary>Loads from an explicit config file and weight file(s): one or more .safetensors files, or a single
    /// PyTorch checkpoint (.pt/.pth/.bin, read by the restricted unpickler; e.g. HPS v2's HPS_v2_compressed.pt, whose
    /// DistributedDataParallel "module." prefix is removed).</summary>
    public static ClipModel Load(string configPath, IReadOnlyList<string> weightPaths, ClipLayout layout)
    {
        var config = ReadConfig(configPath, layout);
        if (weightPaths.Count == 0) throw new ArgumentException("No CLIP weight files were given.", nameof(weightPaths));
        foreach (var p in weightPaths)
            if (!File.Exists(p)) throw new FileNotFoundException($"CLIP weights '{p}' do not exist.", p);
        if (weightPaths.All(p => p.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)))
        {
            using var source = new SafeTensorsClipWeightSource(weightPaths);
            return FromWeights(config, source);
        }
        if (weightPaths.Count != 1)
            throw new ArgumentException($"Pass either .safetensors files or a single PyTorch checkpoint, not [{string.Join(", ", weightPaths)}].", nameof(weightPaths));
        var tensors = TorchCheckpoint.LoadStateDict(weightPaths[0]);
        try
        {
            const string ddpPrefix = "module.";
            var state = tensors.Count > 0 && tensors.Keys.All(k => k.StartsWith(ddpPrefix, StringComparison.Ordinal))
                ? tensors.ToDictionary(kv => kv.Key[ddpPrefix.Length..], kv => kv.Value, StringComparer.Ordinal)
                : tensors;
            return FromWeights(config, new InMemoryClipWeightSource(state, weightPaths[0]));
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    public static ClipConfig ReadConfig(string configPath, ClipLayout layout) => layout switch
    {
        ClipLayout.HuggingFace => ClipConfig.FromHuggingFaceJson(configPath),
        ClipLayout.OpenClip => ClipConfig.FromOpenClipJson(configPath),
        _ => throw new ArgumentOutOfRangeException(nameof(layout), layout, null),
    };

    /// <summary>Builds the model and fills it from <paramref name="source"/> (float32, CPU); throws
    /// <see cref="StateDictMismatchException"/> naming every missing, unexpected or mis-shaped tensor.</summary>
    public static ClipModel FromWeights(ClipConfig config, IClipWeightSource source)
    {
        var model = new ClipModel(config);
        try
        {
            model.LoadReport = ClipWeightLoader.Load(model, config.Layout, ClipWeightMap.For(config), source);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Moves all parameters to <paramref name="device"/> and casts them to <paramref name="dtype"/>
    /// (float32, float16 or bfloat16).</summary>
    public ClipModel To(Device device, ScalarType dtype)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            throw new ArgumentException($"CLIP weights must be a floating-point type, not {dtype}.", nameof(dtype));
        this.to(dtype);
        this.to(device);
        Device = device;
        DType = dtype;
        return this;
    }

    /// <summary>Unnormalised image features [batch, projection] in the model's dtype.</summary>
    public Tensor ImageFeatures(Tensor pixelValues) => vision.forward(pixelValues);

    /// <summary>Unnormalised text features [batch, projection] in the model's dtype.</summary>
    public Tensor TextFeatures(Tensor inputIds, Tensor? attentionMask = null) => text.forward(inputIds, attentionMask);

    /// <summary>L2-normalised float32 image embeddings [batch, projection].</summary>
    public Tensor EncodeImage(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        return Normalize(ImageFeatures(pixelValues)).MoveToOuterDisposeScope();
    }

    /// <summary>L2-normalised float32 text embeddings [batch, projection]. <paramref name="attentionMask"/> (1 = token,
    /// 0 = padding) is what transformers' CLIPModel receives; open_clip calls pass none.</summary>
    public Tensor EncodeText(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        return Normalize(TextFeatures(inputIds, attentionMask)).MoveToOuterDisposeScope();
    }

    /// <summary>exp(logit_scale) * image_embeds @ text_embeds^T in float32: [images, texts] (the PickScore score).</summary>
    public Tensor LogitsPerImage(Tensor imageEmbeds, Tensor textEmbeds)
    {
        using var scope = NewDisposeScope();
        var scale = logit_scale.to(ScalarType.Float32).exp();
        var logits = scale * imageEmbeds.to(ScalarType.Float32).matmul(textEmbeds.to(ScalarType.Float32, imageEmbeds.device).t());
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Both towers and the scaled cosine similarities of every image with every text.</summary>
    public ClipOutput Forward(Tensor pixelValues, Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var image = EncodeImage(pixelValues);
        var textEmbeds = EncodeText(inputIds, attentionMask);
        var logits = LogitsPerImage(image, textEmbeds);
        return new ClipOutput(image.MoveToOuterDisposeScope(), textEmbeds.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }

    /// <summary>x / ||x|| along the last dimension, in float32.</summary>
    public static Tensor Normalize(Tensor features)
    {
        using var scope = NewDisposeScope();
        var x = features.to(ScalarType.Float32);
        return (x / x.norm(-1, keepdim: true)).MoveToOuterDisposeScope();
    }

    private static string FindOpenClipWeights(string directory)
    {
        var preferred = Path.Combine(directory, OpenClipWeightsFile);
        if (File.Exists(preferred)) return preferred;
        var candidates = Directory.GetFiles(directory, "*.safetensors");
        return candidates.Length == 1 ? candidates[0]
            : throw new FileNotFoundException($"'{directory}' has no {OpenClipWeightsFile} and {candidates.Length} other .safetensors files; pass the weights file explicitly.");
    }

    private static IReadOnlyList<string> FindHuggingFaceWeights(string directory)
    {
        var single = Path.Combine(directory, HuggingFaceWeightsFile);
        if (File.Exists(single)) return [single];
        var index = Path.Combine(directory, HuggingFaceIndexFile);
        if (!File.Exists(index))
            throw new FileNotFoundException($"'{directory}' has neither {HuggingFaceWeightsFile} nor {HuggingFaceIndexFile} (PyTorch .bin checkpoints are not read here).");
        using var doc = JsonDocument.Parse(File.ReadAllText(index));
        if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{index}: no \"weight_map\" object.");
        return map.EnumerateObject().Select(p => p.Value.GetString() ?? throw new InvalidDataException($"{index}: weight_map['{p.Name}'] is not a file name."))
            .Distinct(StringComparer.Ordinal).Select(f => Path.Combine(directory, f)).ToList();
    }
}
