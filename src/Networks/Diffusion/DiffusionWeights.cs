using System.Text.Json;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>
/// Finds and loads diffusers weight files: <c>diffusion_pytorch_model[.variant].safetensors</c> (also sharded, with
/// its <c>.index.json</c>) or <c>.bin</c> (read by the restricted unpickler, never executing code). Tensors are read one
/// at a time and converted to the module's dtype, so an fp16 checkpoint fills an fp32 module without a second copy of
/// the whole state dict in memory.
/// </summary>
public static class DiffusionWeights
{
    public const string DiffusersWeightsName = "diffusion_pytorch_model";

    /// <summary>
    /// The weights file of a diffusers model folder (unet/, vae/): with <paramref name="variant"/> (e.g. "fp16")
    /// <c>NAME.VARIANT.safetensors</c> or the sharded index <c>NAME.safetensors.index.VARIANT.json</c>, else
    /// <c>NAME.safetensors</c>; then the sharded index, then <c>.bin</c>; without a
    /// variant and without a plain file, the one variant file present. Throws naming the folder and what it holds.
    /// </summary>
    public static string FindWeights(string folder, string? variant = null, string baseName = DiffusersWeightsName)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Model folder '{folder}' does not exist.");
        var suffixes = new[] { ".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json" };
        // diffusers' _add_variant puts the variant before the last suffix: NAME.fp16.safetensors, but the index of a
        // sharded variant is NAME.safetensors.index.fp16.json.
        var variantSuffixes = new[] { $".{variant}.safetensors", $".safetensors.index.{variant}.json", $".{variant}.bin", $".bin.index.{variant}.json" };
        var names = variant is { Length: > 0 }
            ? variantSuffixes.Select(s => baseName + s).Concat(suffixes.Select(s => baseName + s))
            : suffixes.Select(s => baseName + s);
        foreach (var name in names)
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path)) return path;
        }
        if (variant is not { Length: > 0 })
        {
            var variants = Directory.GetFiles(folder, baseName + ".*")
                .Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".bin", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal).ToList();
            var safetensors = variants.Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal)).ToList();
            if (safetensors.Count == 1) return safetensors[0];
            if (variants.Count == 1) return variants[0];
        }
        var present = Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        throw new FileNotFoundException($"'{folder}' has no {baseName}{(variant is { Length: > 0 } ? $".{variant}" : "")}.safetensors or .bin weights (it holds: {(present.Count == 0 ? "nothing" : string.Join(", ", present))}).");
    }

    /// <summary>
    /// Fills every parameter of <paramref name="model"/> from <paramref name="path"/>, strictly: missing, unexpected
    /// or mis-shaped tensors throw <see cref="StateDictMismatchException"/> listing them all, before anything is
    /// copied. Old checkpoints' attention names (query/key/value/proj_attn) are renamed as diffusers does.
    /// </summary>
    public static LoadReport Load(DiffusionModule model, string path)
    {
        // A sharded checkpoint's index: NAME.safetensors.index.json, or NAME.safetensors.index.VARIANT.json for a variant.
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return LoadSharded(model, path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            using var file = SafeTensorsFile.Open(path);
            var names = file.Entries.ToDictionary(e => e.Key, e => (file, e.Value.Shape), StringComparer.Ordinal);
            return LoadFrom(model, names, (f, name) => f.Load(name), path);
        }
        var tensors = TorchCheckpoint.LoadStateDict(path);
        try
        {
            return StateDictLoader.Load(model, tensors, strict: true, mapKey: DeprecatedAttentionRenamer(model), source: path);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static LoadReport LoadSharded(DiffusionModule model, string indexPath)
    {
        var shards = ShardedCheckpointIndex.ShardFiles(indexPath);
        var files = new List<SafeTensorsFile>();
        try
        {
            var names = new Dictionary<string, (SafeTensorsFile, long[])>(StringComparer.Ordinal);
            foreach (var shard in shards)
            {
                var file = SafeTensorsFile.Open(shard);
                files.Add(file);
                foreach (var (name, entry) in file.Entries)
                    if (!names.TryAdd(name, (file, entry.Shape)))
                        throw new InvalidDataException($"Tensor '{name}' appears in two shards of {indexPath}.");
            }
            return LoadFrom(model, names, (f, name) => f.Load(name), indexPath);
        }
        finally
        {
            foreach (var f in files) f.Dispose();
        }
    }

    private static LoadReport LoadFrom<TSource>(DiffusionModule model, IReadOnlyDictionary<string, (TSource Source, long[] Shape)> checkpoint,
        Func<TSource, string, Tensor> read, string description)
    {
        var rename = DeprecatedAttentionRenamer(model);
        var destinations = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        foreach (var (name, buffer) in model.named_buffers()) destinations.TryAdd(name, buffer);
        var mapped = new Dictionary<string, string>(StringComparer.Ordinal); // module name -> checkpoint key
        foreach (var key in checkpoint.Keys)
        {
            var name = rename(key)!;
            if (!mapped.TryAdd(name, key))
                throw new InvalidDataException($"{description}: checkpoint keys '{mapped[name]}' and '{key}' both map to '{name}'.");
        }
        var loaded = new List<string>();
        var missing = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        foreach (var (name, destination) in destinations)
        {
            if (!mapped.TryGetValue(name, out var key)) { missing.Add(name); continue; }
            var shape = checkpoint[key].Shape;
            if (!destination.shape.SequenceEqual(shape)) mismatched.Add(new ShapeMismatch(name, key, destination.shape, shape));
            else loaded.Add(name);
        }
        var unexpected = mapped.Keys.Where(k => !destinations.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var report = new LoadReport(loaded, missing, unexpected, mismatched, []);
        if (!report.IsExact) throw new StateDictMismatchException(description, report);

        using var noGrad = no_grad();
        foreach (var name in loaded)
        {
            using var scope = NewDisposeScope();
            var (source, _) = checkpoint[mapped[name]];
            var destination = destinations[name];
            destination.copy_(read(source, mapped[name]).to(destination.dtype, destination.device));
        }
        return report;
    }

    /// <summary>diffusers' <c>_fix_state_dict_keys_on_load</c>: in the attention blocks it builds with
    /// <c>_from_deprecated_attn_block</c>, query/key/value/proj_attn become to_q/to_k/to_v/to_out.0.</summary>
    public static Func<string, string?> DeprecatedAttentionRenamer(DiffusionModule model)
    {
        var paths = model.DeprecatedAttentionPaths.ToHashSet(StringComparer.Ordinal);
        return key =>
        {
            foreach (var (old, current) in OldAttentionNames)
            {
                var marker = $".{old}.";
                var at = key.LastIndexOf(marker, StringComparison.Ordinal);
                if (at > 0 && paths.Contains(key[..at])) return key[..at] + "." + current + "." + key[(at + marker.Length)..];
            }
            return key;
        };
    }

    private static readonly (string Old, string Current)[] OldAttentionNames =
        [("query", "to_q"), ("key", "to_k"), ("value", "to_v"), ("proj_attn", "to_out.0")];

    /// <summary>
    /// Random weights for benchmarks and shape tests (never for results): normalisation weights 1 and biases 0,
    /// other biases 0, other weights normal with std 1/sqrt(fan_in), so activations stay in range in fp16/bf16.
    /// </summary>
    public static void Randomize(nn.Module model, long seed)
    {
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var (name, p) in model.named_parameters())
        {
            var leaf = name[(name.LastIndexOf('.') + 1)..];
            var owner = name.Contains('.') ? name[..name.LastIndexOf('.')] : "";
            var isNorm = owner[(owner.LastIndexOf('.') + 1)..].Contains("norm", StringComparison.Ordinal);
            if (isNorm && leaf == "weight") p.fill_(1.0);
            else if (p.dim() <= 1) p.zero_();
            else
            {
                var fanIn = p.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                using var values = randn(p.shape, ScalarType.Float32, generator: generator) * (1.0 / Math.Sqrt(fanIn));
                p.copy_(values.to(p.dtype, p.device));
            }
        }
    }
}
