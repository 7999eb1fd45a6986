using System.Collections.ObjectModel;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// The immutable result of <see cref="IDiffusionScheduler.Schedule"/>: what diffusers' <c>set_timesteps</c> stores on the
/// scheduler object, held in a value instead. Step <c>i</c> of a sampling loop calls the model at
/// <see cref="Timesteps"/>[i] and then <see cref="IDiffusionScheduler.Step"/> with step index <c>i</c>; there are
/// <see cref="Count"/> steps (PNDM's PLMS warm-up makes that one more than <see cref="NumInferenceSteps"/>).
/// </summary>
public sealed class DiffusionSchedule
{
    private readonly double[] timesteps;
    private readonly float[]? sigmas;

    internal DiffusionSchedule(IDiffusionScheduler owner, int numInferenceSteps, double[] timesteps, ScalarType timestepDType,
        float[]? sigmas, double initNoiseSigma)
    {
        Owner = owner;
        NumInferenceSteps = numInferenceSteps;
        this.timesteps = timesteps;
        TimestepDType = timestepDType;
        this.sigmas = sigmas;
        InitNoiseSigma = initNoiseSigma;
        Timesteps = new ReadOnlyCollection<double>(timesteps);
        Sigmas = sigmas is null ? null : new ReadOnlyCollection<float>(sigmas);
    }

    /// <summary>The scheduler that made this schedule (steps must use the same one).</summary>
    public IDiffusionScheduler Owner { get; }

    /// <summary>The <c>num_inference_steps</c> asked for.</summary>
    public int NumInferenceSteps { get; }

    /// <summary>Number of model calls / <see cref="IDiffusionScheduler.Step"/> calls (= <see cref="Timesteps"/>.Count).</summary>
    public int Count => timesteps.Length;

    /// <summary>diffusers' <c>scheduler.timesteps</c>: integers for DDPM/DDIM/PNDM/DPM-Solver, float32 values for the
    /// Euler schedulers (e.g. 799.2000122070312), stored exactly as doubles.</summary>
    public IReadOnlyList<double> Timesteps { get; }

    /// <summary>dtype of diffusers' timesteps tensor (Int64 or Float32); <see cref="TimestepTensor"/> uses it.</summary>
    public ScalarType TimestepDType { get; }

    /// <summary>diffusers' <c>scheduler.sigmas</c> (Count + 1 float32 values, the last being the final sigma) for
    /// sigma-based schedulers (Euler, Euler ancestral, DPM-Solver); null for the others.</summary>
    public IReadOnlyList<float>? Sigmas { get; }

    /// <summary>diffusers' <c>init_noise_sigma</c>: multiply the initial Gaussian noise by it (exactly a float32 value).</summary>
    public double InitNoiseSigma { get; }

    /// <summary>A 0-dim tensor holding the timestep of step <paramref name="stepIndex"/>, with diffusers' dtype: what the
    /// pipeline passes to the UNet.</summary>
    public Tensor TimestepTensor(int stepIndex, Device? device = null)
    {
        CheckIndex(stepIndex);
        return TimestepDType == ScalarType.Int64
            ? tensor((long)timesteps[stepIndex], dtype: ScalarType.Int64, device: device)
            : tensor((float)timesteps[stepIndex], dtype: ScalarType.Float32, device: device);
    }

    /// <summary>All timesteps as a 1-d tensor (diffusers' <c>scheduler.timesteps</c>).</summary>
    public Tensor TimestepsTensor(Device? device = null) => TimestepDType == ScalarType.Int64
        ? tensor(timesteps.Select(t => (long)t).ToArray(), dtype: ScalarType.Int64, device: device)
        : tensor(timesteps.Select(t => (float)t).ToArray(), dtype: ScalarType.Float32, device: device);

    internal float Sigma(int index) => sigmas![index];

    internal void CheckIndex(int stepIndex)
    {
        if ((uint)stepIndex >= (uint)timesteps.Length)
            throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"step index must be in [0, {timesteps.Length}) for this {timesteps.Length}-step schedule.");
    }
}
