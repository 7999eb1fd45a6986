using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Clip;

/// <summary>Named tensors of a checkpoint, read lazily so that a bad checkpoint is rejected before anything is loaded.</summary>
public interface IClipWeightSource
{
    /// <summary>What the tensors come from (file names), for error messages.</summary>
    string Description { get; }

    IReadOnlyCollection<string> Names { get; }

    long[] ShapeOf(string name);

    /// <summary>The tensor as float32 on the CPU.</summary>
    Tensor LoadFloat32(string name);
}

/// <summary>Tensors spread over one or more safetensors files (sharded checkpoints have several).</summary>
public sealed class SafeTensorsClipWeightSource : IClipWeightSource, IDisposable
{
    private readonly List<SafeTensorsFile> _files = new();
    private readonly Dictionary<string, SafeTensorsFile> _owner = new(StringComparer.Ordinal);

    public SafeTensorsClipWeightSource(IEnumerable<string> paths)
    {
        try
        {
            foreach (var path in paths)
            {
                var file = SafeTensorsFile.Open(path);
                _files.Add(file);
                foreach (var name in file.Entries.Keys)
                    if (!_owner.TryAdd(name, file))
                        throw new InvalidDataException($"Tensor '{name}' appears in both {_owner[name].Path} and {path}.");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        if (_files.Count == 0) throw new ArgumentException("No safetensors files were given.", nameof(paths));
        Description = string.Join(", ", _files.Select(f => f.Path));
    }

    public string Description { get; }
    public IReadOnlyCollection<string> Names => _owner.Keys;
    public long[] ShapeOf(string name) => _owner[name].Entries[name].Shape;
    public Tensor LoadFloat32(string name) => _owner[name].Load(name, ScalarType.Float32);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}

/// <summary>Tensors already in memory (e.g. read from a PyTorch checkpoint). The caller keeps ownership.</summary>
public sealed class InMemoryClipWeightSource(IReadOnlyDictionary<string, Tensor> tensors, string description = "in-memory state dict") : IClipWeightSource
{
    public string Description { get; } = description;
    public IReadOnlyCollection<string> Names => tensors.Keys.ToArray();
    public long[] ShapeOf(string name) => tensors[name].shape;
    public Tensor LoadFloat32(string name) => tensors[name].to(ScalarType.Float32, CPU, copy: true).detach();
}

/// <summary>Fills a model's parameters through a <see cref="ClipWeightMap"/>, after checking the whole checkpoint.</summary>
public static class ClipWeightLoader
{
    /// <summary>
    /// Checks every binding against <paramref name="source"/> and, only when all match, copies the values in under
    /// no_grad. Otherwise throws <see cref="StateDictMismatchException"/> whose report lists every problem by
    /// checkpoint name: <see cref="LoadReport.Missing"/> and <see cref="LoadReport.Unexpected"/> hold checkpoint keys,
    /// <see cref="LoadReport.Mismatched"/> pairs each mis-shaped checkpoint key with the module parameter it feeds
    /// (ModuleShape is the shape that key must have), <see cref="LoadReport.Ignored"/> the known-harmless buffers.
    /// </summary>
    public static LoadReport Load(nn.Module model, ClipLayout layout, IReadOnlyList<WeightBinding> bindings, IClipWeightSource source)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var bound = bindings.Select(b => b.Target).ToHashSet(StringComparer.Ordinal);
        // These two are programming errors in the map, not checkpoint problems.
        var unknownTargets = bound.Where(t => !parameters.ContainsKey(t)).ToList();
        var unboundParameters = parameters.Keys.Where(p => !bound.Contains(p)).ToList();
        if (unknownTargets.Count > 0 || unboundParameters.Count > 0)
            throw new InvalidOperationException($"CLIP weight map is inconsistent with the module: unknown targets [{string.Join(", ", unknownTargets)}], unbound parameters [{string.Join(", ", unboundParameters)}].");

        var available = source.Names.ToHashSet(StringComparer.Ordinal);
        var missing = new List<string>();
        var misshaped = new List<ShapeMismatch>();
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var binding in bindings)
        {
            var targetShape = parameters[binding.Target].shape;
            foreach (var name in binding.Sources)
            {
                consumed.Add(name);
                if (!available.Contains(name)) { missing.Add(name); continue; }
                var expected = ExpectedSourceShape(binding, targetShape);
                var actual = source.ShapeOf(name);
                if (!actual.SequenceEqual(expected)) misshaped.Add(new ShapeMismatch(binding.Target, name, expected, actual));
            }
        }
        var leftOver = available.Where(n => !consumed.Contains(n)).Order(StringComparer.Ordinal).ToList();
        var ignored = leftOver.Where(n => ClipWeightMap.IsIgnorable(layout, n)).ToList();
        var unexpected = leftOver.Where(n => !ClipWeightMap.IsIgnorable(layout, n)).ToList();
        var report = new LoadReport(bindings.Select(b => b.Target).ToList(), missing, unexpected, misshaped, ignored);
        if (!report.IsExact)
            throw new StateDictMismatchException($"CLIP ({layout} layout) checkpoint {source.Description}", report with { Loaded = [] });

        using var noGrad = no_grad();
        foreach (var binding in bindings)
        {
            using var scope = NewDisposeScope();
            var parts = binding.Sources.Select(source.LoadFloat32).ToArray();
            var value = binding.Transform switch
            {
                WeightTransform.Copy => parts[0],
                WeightTransform.ConcatRows => cat(parts, 0),
                WeightTransform.Transpose => parts[0].t(),
                _ => throw new InvalidOperationException($"Unknown transform {binding.Transform}."),
            };
            var parameter = parameters[binding.Target];
            parameter.copy_(value.to(parameter.dtype, parameter.device));
        }
        return report;
    }

    private static long[] ExpectedSourceShape(WeightBinding binding, long[] target) => binding.Transform switch
    {
        WeightTransform.Copy => target,
        WeightTransform.ConcatRows => [target[0] / binding.Sources.Count, .. target[1..]],
        WeightTransform.Transpose => [.. target.Reverse()],
        _ => throw new InvalidOperationException($"Unknown transform {binding.Transform}."),
    };
}
