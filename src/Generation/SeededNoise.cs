using BiasBench.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// Noise for the items of a batch, one CPU generator per item seeded with the item's seed: the initial noise of item
/// i is <c>torch.randn((1, ...), generator=torch.Generator("cpu").manual_seed(seed_i), dtype=...)</c> moved to the
/// device, what diffusers does with <c>generator=[torch.Generator("cpu").manual_seed(s) for s in seeds]</c> (and with
/// a single generator for a batch of one). Stochastic scheduler steps draw from the same generators afterwards, as
/// diffusers does, so an item's image depends on its seed only, never on the batch it was generated in or the device.
/// </summary>
public sealed class SeededNoise : IDisposable
{
    private readonly List<Generator> _generators;

    public SeededNoise(IReadOnlyList<long> seeds)
    {
        if (seeds.Count == 0) throw new ArgumentException("At least one seed is needed.", nameof(seeds));
        Seeds = seeds.ToArray();
        _generators = Seeds.Select(SchedulerNoise.CpuGenerator).ToList();
    }

    public IReadOnlyList<long> Seeds { get; }

    public IReadOnlyList<Generator> Generators => _generators;

    /// <summary>Standard normal noise [items, ...itemShape] drawn in <paramref name="dtype"/> on the CPU, then moved.</summary>
    public Tensor Draw(ReadOnlySpan<long> itemShape, ScalarType dtype, Device device)
    {
        var shape = new long[itemShape.Length + 1];
        shape[0] = _generators.Count;
        itemShape.CopyTo(shape.AsSpan(1));
        return SchedulerNoise.Randn(shape, _generators, dtype, device);
    }

    /// <summary>A <see cref="StepNoise"/> that draws each stochastic step's noise from the items' generators.</summary>
    public StepNoise ForSteps() => (_, shape, dtype, device) =>
        SchedulerNoise.Randn(shape, _generators, dtype, device);

    public void Dispose()
    {
        foreach (var g in _generators) g.Dispose();
        _generators.Clear();
    }
}

/// <summary>The noise a stochastic scheduler step <paramref name="stepIndex"/> consumes, shaped like the model output.</summary>
public delegate Tensor StepNoise(int stepIndex, long[] shape, ScalarType dtype, Device device);

/// <summary>Conversions of pipeline outputs.</summary>
public static class ImageTensors
{
    /// <summary>[B, 3, H, W] in [0, 1] -> one HWC uint8 RGB buffer per image, as diffusers' numpy_to_pil
    /// (<c>(x * 255).round()</c>, half to even, in float32).</summary>
    public static IReadOnlyList<byte[]> ToRgbBytes(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3) throw new ArgumentException($"Expected [batch, 3, H, W] images, got [{string.Join(", ", images.shape)}].");
        using var scope = NewDisposeScope();
        var bytes = (images.to(ScalarType.Float32, CPU) * 255).round().clamp(0, 255).to(ScalarType.Byte).permute(0, 2, 3, 1).contiguous();
        var all = bytes.data<byte>().ToArray();
        var per = (int)(images.shape[1] * images.shape[2] * images.shape[3]);
        return Enumerable.Range(0, (int)images.shape[0]).Select(i => all.AsSpan(i * per, per).ToArray()).ToList();
    }

    /// <summary>Parses float32/fp32, float16/fp16/half, bfloat16/bf16.</summary>
    public static ScalarType ParseDType(string dtype) => dtype.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "float16" or "fp16" or "half" => ScalarType.Float16,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"Unknown dtype '{dtype}': use float32, float16 or bfloat16."),
    };

    public static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => dtype.ToString().ToLowerInvariant(),
    };
}
