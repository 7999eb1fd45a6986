using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Vision;

/// <summary>A loaded classifier and what its file said about itself.</summary>
public sealed record LoadedResNet(ResNetClassifier Model, ResNetCheckpointLayout Layout, IReadOnlyDictionary<string, string> Metadata, LoadReport Report);

public enum ResNetCheckpointLayout
{
    /// <summary>The hackathon classifier: <c>resnet.*</c> + <c>final_layers.*</c> (a BiasBench checkpoint uses it too).</summary>
    Classifier,
    /// <summary>A plain torchvision ResNet state dict (<c>conv1.weight</c>, ..., <c>fc.weight</c>), e.g. resnet18-f37072fd.pth.</summary>
    Torchvision,
}

/// <summary>
/// Reads ResNet weights through the safe readers only (safetensors, or the restricted <c>.pt</c> unpickler, which
/// never runs code): hackathon classifier state dicts (optionally under <c>module.</c> from DataParallel or inside
/// <c>{"state_dict": ...}</c>), plain torchvision checkpoints, and BiasBench classifier files (safetensors whose
/// metadata carries the config under <see cref="ConfigMetadataKey"/>).
/// </summary>
public static class ResNetCheckpoint
{
    public const string ConfigMetadataKey = "biasbench.resnet_config";

    /// <summary>All tensors of a file (float tensors as float32) and, for safetensors, its string metadata.</summary>
    public static (Dictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        Dictionary<string, Tensor> tensors;
        IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>();
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            using var file = SafeTensorsFile.Open(path);
            tensors = file.LoadAll(ScalarType.Float32);
            metadata = file.Metadata;
        }
        else tensors = TorchCheckpoint.LoadStateDict(path, ScalarType.Float32);
        if (tensors.Count > 0 && tensors.Keys.All(k => k.StartsWith("module.", StringComparison.Ordinal)))
            tensors = tensors.ToDictionary(kv => kv.Key["module.".Length..], kv => kv.Value, StringComparer.Ordinal);
        return (tensors, metadata);
    }

    public static ResNetCheckpointLayout DetectLayout(IReadOnlyCollection<string> keys, string source)
    {
        if (keys.Contains(ResNetClassifier.BackbonePrefix + "conv1.weight")) return ResNetCheckpointLayout.Classifier;
        if (keys.Contains("conv1.weight")) return ResNetCheckpointLayout.Torchvision;
        throw new InvalidDataException($"{source}: neither a torchvision ResNet state dict (conv1.weight, layer1.0..., fc.weight) nor the hackathon " +
                                       $"classifier layout (resnet.conv1.weight, ..., final_layers.N.weight); first keys: {string.Join(", ", keys.Take(5))}.");
    }

    /// <summary>
    /// Builds the classifier a file describes and loads it exactly (every tensor present and of the right shape;
    /// <c>num_batches_tracked</c> may be absent, as in older torchvision files, and then starts at 0 like PyTorch).
    /// </summary>
    public static LoadedResNet Load(string path, Device? device = null)
    {
        var (tensors, metadata) = ReadFile(path);
        try
        {
            var layout = DetectLayout(tensors.Keys, path);
            var prefix = layout == ResNetCheckpointLayout.Classifier ? ResNetClassifier.BackbonePrefix : "";
            var config = metadata.TryGetValue(ConfigMetadataKey, out var json)
                ? ResNetConfig.FromJson(json, path)
                : ResNetConfig.FromStateDict(tensors.ToDictionary(kv => kv.Key, kv => kv.Value.shape), prefix, path);
            var model = new ResNetClassifier(config);
            var report = LoadInto(model, tensors, layout, path);
            if (device is not null && device.type != DeviceType.CPU) model.to(device);
            model.eval();
            return new LoadedResNet(model, layout, metadata, report);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Copies a state dict of either layout into <paramref name="model"/>; throws listing every problem.</summary>
    public static LoadReport LoadInto(ResNetClassifier model, IReadOnlyDictionary<string, Tensor> tensors, ResNetCheckpointLayout layout, string source)
    {
        var mapped = layout == ResNetCheckpointLayout.Torchvision
            ? (Func<string, string?>)(k => ResNetClassifier.BackbonePrefix + k)
            : null;
        var report = StateDictLoader.Load(model, tensors, strict: false, mapKey: mapped, source: source);
        var missing = report.Missing.Where(m => !m.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
        if (missing.Count > 0 || report.Unexpected.Count > 0 || report.Mismatched.Count > 0)
            throw new StateDictMismatchException(source, report with { Missing = missing });
        return report;
    }

    /// <summary>
    /// Loads ImageNet (or any torchvision-layout) backbone weights into a classifier's <c>resnet.*</c>, leaving fc and
    /// the head as they are when their shapes differ (a 1000-class fc against the hackathon's 512). Everything else
    /// must match.
    /// </summary>
    public static LoadReport LoadBackbone(ResNetClassifier model, string path)
    {
        var (tensors, _) = ReadFile(path);
        try
        {
            var layout = DetectLayout(tensors.Keys, path);
            var prefix = layout == ResNetCheckpointLayout.Classifier ? ResNetClassifier.BackbonePrefix : "";
            var backbone = tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal) && !kv.Key.StartsWith(prefix + "fc.", StringComparison.Ordinal))
                .ToDictionary(kv => ResNetClassifier.BackbonePrefix + kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            var report = StateDictLoader.Load(model, backbone, strict: false, source: path);
            var missing = report.Missing.Where(m => m.StartsWith(ResNetClassifier.BackbonePrefix, StringComparison.Ordinal)
                                                    && !m.StartsWith(ResNetClassifier.BackbonePrefix + "fc.", StringComparison.Ordinal)
                                                    && !m.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
            if (missing.Count > 0 || report.Unexpected.Count > 0 || report.Mismatched.Count > 0)
                throw new StateDictMismatchException(path, report with { Missing = missing });
            return report;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Writes a classifier as safetensors (float32, hackathon layout) with its config and extra metadata.</summary>
    public static void Save(ResNetClassifier model, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [ConfigMetadataKey] = model.Config.ToJson(),
        };
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in model.named_parameters()) tensors[name] = p.detach().to(ScalarType.Float32, CPU).contiguous();
        foreach (var (name, b) in model.named_buffers()) tensors[name] = b.is_floating_point() ? b.to(ScalarType.Float32, CPU).contiguous() : b.to(CPU).contiguous();
        var tmp = path + ".tmp";
        SafeTensorsFile.Save(tmp, tensors, meta);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>torchvision's initialisation for training from scratch, from an explicit generator (TorchSharp's nn.init
    /// ignores its generator argument, so the draws are made with randn/rand and copied in): convs kaiming-normal
    /// (fan_out, ReLU), batch norm 1/0, every linear PyTorch's default U(-1/sqrt(in), 1/sqrt(in)).</summary>
    public static void Initialize(ResNetClassifier model, Generator generator, bool backbone = true)
    {
        using var _ = no_grad();
        if (backbone)
            foreach (var m in model.modules())
                switch (m)
                {
                    case ResNetConv conv:
                    {
                        var w = conv.Weight;
                        var fanOut = w.shape[0] * w.shape[2] * w.shape[3];
                        using (var draw = randn(w.shape, generator: generator)) w.copy_(draw.mul_(Math.Sqrt(2.0 / fanOut)));
                        break;
                    }
                    case ResNetBatchNorm bn:
                        bn.Weight.fill_(1); bn.Bias.fill_(0);
                        break;
                }
        foreach (var linear in model.LinearLayers) InitializeLinear(linear, generator);
    }

    public static void InitializeHead(ResNetClassifier model, Generator generator) => Initialize(model, generator, backbone: false);

    private static void InitializeLinear(ResNetLinear linear, Generator generator)
    {
        var bound = 1 / Math.Sqrt(linear.InFeatures);
        foreach (var p in new[] { linear.Weight, linear.Bias })
            using (var draw = rand(p.shape, generator: generator)) p.copy_(draw.mul_(2 * bound).sub_(bound));
    }
}
