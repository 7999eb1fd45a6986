using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Torch.Weights;

/// <summary>A checkpoint tensor whose shape differs from the module's parameter or buffer of the same name.</summary>
public sealed record ShapeMismatch(string Name, string CheckpointKey, long[] ModuleShape, long[] CheckpointShape)
{
    public override string ToString() =>
        $"{Name}: module [{string.Join(", ", ModuleShape)}] vs checkpoint [{string.Join(", ", CheckpointShape)}]" +
        (CheckpointKey == Name ? "" : $" (checkpoint key '{CheckpointKey}')");
}

/// <summary>
/// What loading a state dict did. <see cref="Missing"/>: module tensors with no checkpoint value;
/// <see cref="Unexpected"/>: checkpoint keys (after mapping) the module does not have; <see cref="Mismatched"/>:
/// shape differences (not copied); <see cref="Ignored"/>: checkpoint keys the key map dropped (returned null for).
/// </summary>
public sealed record LoadReport(
    IReadOnlyList<string> Loaded,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<ShapeMismatch> Mismatched,
    IReadOnlyList<string> Ignored)
{
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && Mismatched.Count == 0;

    public override string ToString()
    {
        var lines = new List<string> { $"loaded {Loaded.Count} tensors; {Missing.Count} missing, {Unexpected.Count} unexpected, {Mismatched.Count} mis-shaped, {Ignored.Count} ignored" };
        if (Missing.Count > 0) lines.Add("missing: " + string.Join(", ", Missing));
        if (Unexpected.Count > 0) lines.Add("unexpected: " + string.Join(", ", Unexpected));
        if (Mismatched.Count > 0) lines.Add("mis-shaped: " + string.Join("; ", Mismatched));
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Thrown by a strict load that found missing, unexpected or mis-shaped tensors; nothing was copied.</summary>
public sealed class StateDictMismatchException : InvalidOperationException
{
    public StateDictMismatchException(string source, LoadReport report)
        : base($"{source}: state dict does not match the module: {report}") => Report = report;

    public LoadReport Report { get; }
}

/// <summary>Copies a state dict into a TorchSharp module (its named parameters and buffers).</summary>
public static class StateDictLoader
{
    /// <summary>
    /// Compares the module's parameters and buffers with <paramref name="tensors"/> (checkpoint keys renamed by
    /// <paramref name="mapKey"/>; a null result drops the key) and copies matching values in under no_grad,
    /// converting each to the destination's dtype. With <paramref name="strict"/>, any missing, unexpected or
    /// mis-shaped tensor throws <see cref="StateDictMismatchException"/> listing them all, before anything is copied.
    /// Without it, everything that matches is copied and the rest reported.
    /// </summary>
    /// <param name="source">Names the checkpoint in error messages.</param>
    public static LoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, bool strict = true,
        Func<string, string?>? mapKey = null, string source = "state dict")
    {
        var destinations = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in module.named_parameters()) destinations[name] = p;
        foreach (var (name, b) in module.named_buffers()) destinations.TryAdd(name, b);

        var mapped = new Dictionary<string, (string Key, Tensor Value)>(StringComparer.Ordinal);
        var ignored = new List<string>();
        foreach (var (key, value) in tensors)
        {
            var name = mapKey is null ? key : mapKey(key);
            if (name is null) { ignored.Add(key); continue; }
            if (!mapped.TryAdd(name, (key, value)))
                throw new InvalidDataException($"{source}: checkpoint keys '{mapped[name].Key}' and '{key}' both map to '{name}'.");
        }

        var loaded = new List<string>();
        var missing = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        foreach (var (name, destination) in destinations)
        {
            if (!mapped.TryGetValue(name, out var entry)) { missing.Add(name); continue; }
            if (!destination.shape.SequenceEqual(entry.Value.shape))
                mismatched.Add(new ShapeMismatch(name, entry.Key, destination.shape, entry.Value.shape));
            else
                loaded.Add(name);
        }
        var unexpected = mapped.Keys.Where(k => !destinations.ContainsKey(k)).ToList();
        var report = new LoadReport(loaded, missing, unexpected, mismatched, ignored);
        if (strict && !report.IsExact) throw new StateDictMismatchException(source, report);

        using (no_grad())
        {
            foreach (var name in loaded)
            {
                var destination = destinations[name];
                var value = mapped[name].Value;
                using var scope = NewDisposeScope();
                destination.copy_(value.to(destination.dtype, destination.device));
            }
        }
        return report;
    }

    /// <summary>Loads a checkpoint file (safetensors, or a PyTorch .pt/.pth/.bin) straight into a module.</summary>
    public static LoadReport LoadFile(nn.Module module, string path, bool strict = true, Func<string, string?>? mapKey = null)
    {
        var tensors = path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
            ? LoadSafeTensors(path)
            : TorchCheckpoint.LoadStateDict(path);
        try
        {
            return Load(module, tensors, strict, mapKey, path);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static Dictionary<string, Tensor> LoadSafeTensors(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        return file.LoadAll();
    }
}
