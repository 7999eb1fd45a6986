using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Training;

/// <summary>
/// An exponential moving average of named parameters (diffusers' EMAModel without warm-up): after each optimiser
/// update, shadow = decay x shadow + (1 - decay) x parameter, in float32. Its state (the shadow tensors and the update
/// count) goes into the training checkpoint, so a resumed run continues the same average.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly List<(string Name, Tensor Parameter, Tensor Shadow)> _entries;

    public ExponentialMovingAverage(IEnumerable<(string Name, Tensor Parameter)> parameters, double decay)
    {
        if (decay is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "The EMA decay must be in [0, 1).");
        Decay = decay;
        using var _ = no_grad();
        _entries = parameters.Select(p => (p.Name, p.Parameter, p.Parameter.detach().to(ScalarType.Float32).clone())).ToList();
    }

    public double Decay { get; }

    /// <summary>Updates applied so far.</summary>
    public long Updates { get; private set; }

    public void Update()
    {
        using var _ = no_grad();
        foreach (var (_, p, shadow) in _entries)
        {
            using var value = p.detach().to(ScalarType.Float32);
            shadow.lerp_(value, 1 - Decay);
        }
        Updates++;
    }

    /// <summary>The averaged values by parameter name (the live tensors; copy before changing them).</summary>
    public IReadOnlyDictionary<string, Tensor> Shadows => _entries.ToDictionary(e => e.Name, e => e.Shadow, StringComparer.Ordinal);

    /// <summary>Restores the shadows (copies) and the update count, e.g. from a checkpoint.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> shadows, long updates, string source)
    {
        using var _ = no_grad();
        foreach (var (name, _, shadow) in _entries)
        {
            if (!shadows.TryGetValue(name, out var value))
                throw new InvalidDataException($"{source}: no EMA value for '{name}'.");
            if (!value.shape.SequenceEqual(shadow.shape))
                throw new InvalidDataException($"{source}: EMA value of '{name}' has shape [{string.Join(", ", value.shape)}], parameter [{string.Join(", ", shadow.shape)}].");
            shadow.copy_(value);
        }
        Updates = updates;
    }

    public void Dispose()
    {
        foreach (var (_, _, shadow) in _entries) shadow.Dispose();
        _entries.Clear();
    }
}
