using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// Draws Gaussian noise the way diffusers' <c>randn_tensor</c> does, so a seeded run here reproduces diffusers' random
/// stream (TorchSharp uses libtorch's own generators): the draw happens on the generator's device (a CPU generator
/// draws on the CPU, whatever the target device) in the requested dtype, then moves to <paramref name="device"/>.
/// With one generator per batch item each item gets its own <c>(1, ...)</c> draw, as with diffusers' generator lists.
/// </summary>
public static class SchedulerNoise
{
    /// <summary>Standard normal noise of <paramref name="shape"/> from <paramref name="generator"/>.</summary>
    public static Tensor Randn(ReadOnlySpan<long> shape, Generator generator, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var target = device ?? CPU;
        var drawn = randn(shape.ToArray(), dtype: dtype, device: generator.device, generator: generator);
        if (drawn.device.type == target.type && drawn.device.index == target.index) return drawn;
        using (drawn) return drawn.to(target);
    }

    /// <summary>Noise for a batch with one generator per item (item i drawn from <paramref name="generators"/>[i]).</summary>
    public static Tensor Randn(ReadOnlySpan<long> shape, IReadOnlyList<Generator> generators, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(generators);
        if (shape.Length == 0 || shape[0] != generators.Count)
            throw new ArgumentException($"One generator per batch item: the shape's first dimension is {(shape.Length == 0 ? "missing" : shape[0])} but {generators.Count} generators were given.", nameof(generators));
        if (generators.Count == 1) return Randn(shape, generators[0], dtype, device);
        var itemShape = shape.ToArray();
        itemShape[0] = 1;
        using var scope = NewDisposeScope();
        var items = generators.Select(g => Randn(itemShape, g, dtype, device)).ToArray();
        return cat(items, 0).MoveToOuterDisposeScope();
    }

    /// <summary>A CPU generator seeded like <c>torch.Generator("cpu").manual_seed(seed)</c>.</summary>
    public static Generator CpuGenerator(long seed) => new Generator((ulong)seed, CPU);
}

/// <summary>Convenience over <see cref="IDiffusionScheduler"/>.</summary>
public static class DiffusionSchedulerExtensions
{
    /// <summary>
    /// <see cref="IDiffusionScheduler.Step"/> drawing the step's noise from <paramref name="generator"/> when the step needs
    /// it, exactly when and how diffusers' <c>step(..., generator=generator)</c> draws (shape and dtype of the model
    /// output), so a loop fed the same generator consumes the same random stream as diffusers.
    /// </summary>
    public static SchedulerStepOutput Step(this IDiffusionScheduler scheduler, DiffusionSchedule schedule, int stepIndex, Tensor modelOutput,
        Tensor sample, Generator? generator, SchedulerState? state = null)
    {
        if (!scheduler.NeedsNoise(schedule, stepIndex)) return scheduler.Step(schedule, stepIndex, modelOutput, sample, null, state);
        if (generator is null)
            throw new ArgumentNullException(nameof(generator), $"{scheduler.ClassName} step {stepIndex} is stochastic and needs a generator (diffusers would use torch's global one; BiasBench never does).");
        using var noise = SchedulerNoise.Randn(modelOutput.shape, generator, modelOutput.dtype, modelOutput.device);
        return scheduler.Step(schedule, stepIndex, modelOutput, sample, noise, state);
    }
}
