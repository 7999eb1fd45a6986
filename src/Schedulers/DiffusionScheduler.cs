using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// Shared plumbing of the schedulers: config reading helpers, argument checks, and the variance-preserving
/// <c>add_noise</c>/<c>get_velocity</c>. Scalar coefficients are computed in float32 in the same order as diffusers
/// (whose coefficients are 0-dim float32 tensors) and applied with the same tensor operations, so results match
/// diffusers to float32 rounding.
/// </summary>
public abstract class DiffusionScheduler : IDiffusionScheduler
{
    protected DiffusionScheduler(SchedulerConfig config, BetaSchedule betaSchedule, PredictionType predictionType)
    {
        Config = config;
        BetaSchedule = betaSchedule;
        PredictionType = predictionType;
        AlphasCumprod = betaSchedule.AlphasCumprod;
    }

    public abstract string ClassName { get; }

    public SchedulerConfig Config { get; }

    public BetaSchedule BetaSchedule { get; }

    public int NumTrainTimesteps => BetaSchedule.NumTrainTimesteps;

    public PredictionType PredictionType { get; }

    protected IReadOnlyList<float> AlphasCumprod { get; }

    public abstract DiffusionSchedule Schedule(int numInferenceSteps);

    public virtual Tensor ScaleModelInput(DiffusionSchedule schedule, int stepIndex, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        return sample.alias();
    }

    public virtual bool NeedsNoise(DiffusionSchedule schedule, int stepIndex)
    {
        CheckSchedule(schedule, stepIndex);
        return false;
    }

    public abstract SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null);

    public abstract Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample);

    /// <summary>Variance-preserving forward process at the (integer) timestep of step <paramref name="stepIndex"/>.</summary>
    public virtual Tensor AddNoise(DiffusionSchedule schedule, int stepIndex, Tensor originalSamples, Tensor noise)
    {
        CheckSchedule(schedule, stepIndex);
        using var scope = NewDisposeScope();
        var t = full(originalSamples.shape[0], (long)schedule.Timesteps[stepIndex], dtype: ScalarType.Int64);
        return AddNoise(originalSamples, noise, t).MoveToOuterDisposeScope();
    }

    /// <summary>sqrt(acp[t]) x_0 + sqrt(1 - acp[t]) noise, acp cast to the sample dtype first (as diffusers).</summary>
    public virtual Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        CheckSameShape(noise, originalSamples, nameof(noise));
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = AlphaFactors(originalSamples, timesteps);
        return (sqrtAlpha * originalSamples + sqrtOneMinusAlpha * noise).MoveToOuterDisposeScope();
    }

    /// <summary>v = sqrt(acp[t]) noise - sqrt(1 - acp[t]) sample (diffusers' <c>get_velocity</c>).</summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps)
    {
        CheckSameShape(noise, sample, nameof(noise));
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = AlphaFactors(sample, timesteps);
        return (sqrtAlpha * noise - sqrtOneMinusAlpha * sample).MoveToOuterDisposeScope();
    }

    /// <summary>sqrt(acp[t]) and sqrt(1 - acp[t]) per item, shaped to broadcast over <paramref name="like"/>.</summary>
    private (Tensor SqrtAlpha, Tensor SqrtOneMinusAlpha) AlphaFactors(Tensor like, Tensor timesteps)
    {
        var index = TrainTimestepIndex(timesteps, like.device);
        var acp = tensor(AlphasCumprod.ToArray(), device: like.device).to(like.dtype).index_select(0, index);
        return (BroadcastPerItem(acp.sqrt(), like), BroadcastPerItem((1 - acp).sqrt(), like));
    }

    /// <summary>x_0 + sigma noise (sigma-space schedulers), sigma cast to the sample dtype first as in diffusers.</summary>
    protected static Tensor AddSigmaNoise(Tensor originalSamples, Tensor noise, float sigma)
    {
        CheckSameShape(noise, originalSamples, nameof(noise));
        using var scope = NewDisposeScope();
        // diffusers casts the sigma to the sample dtype before multiplying.
        var s = tensor(sigma).to(originalSamples.dtype).to(originalSamples.device);
        return (originalSamples + noise * s).MoveToOuterDisposeScope();
    }

    /// <summary>x_0 + sigma_train[t] noise per item at integer training timesteps.</summary>
    protected Tensor AddTrainSigmaNoise(Tensor originalSamples, Tensor noise, Tensor timesteps, float[] sigmas)
    {
        CheckSameShape(noise, originalSamples, nameof(noise));
        using var scope = NewDisposeScope();
        var index = TrainTimestepIndex(timesteps, originalSamples.device);
        var sigma = tensor(sigmas, device: originalSamples.device).to(originalSamples.dtype).index_select(0, index);
        return (originalSamples + noise * BroadcastPerItem(sigma, originalSamples)).MoveToOuterDisposeScope();
    }

    /// <summary>Validates integer training timesteps and returns them as a flat int64 index.</summary>
    protected Tensor TrainTimestepIndex(Tensor timesteps, Device device)
    {
        if (timesteps.is_floating_point())
            throw new ArgumentException($"timesteps must be an integer tensor of training timesteps (got {timesteps.dtype}).", nameof(timesteps));
        var index = timesteps.flatten().to(ScalarType.Int64).to(device);
        if (index.numel() > 0)
        {
            var min = index.min().item<long>();
            var max = index.max().item<long>();
            if (min < 0 || max >= NumTrainTimesteps)
                throw new ArgumentOutOfRangeException(nameof(timesteps), $"timesteps must lie in [0, {NumTrainTimesteps}) (got {min}..{max}).");
        }
        return index;
    }

    /// <summary>Reshapes per-item factors [B] to [B, 1, ..., 1] to broadcast over <paramref name="like"/>.</summary>
    protected static Tensor BroadcastPerItem(Tensor factors, Tensor like)
    {
        var shape = new long[Math.Max(like.dim(), 1)];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        return factors.flatten().reshape(shape);
    }

    // ---- argument checks ----

    protected void CheckSchedule(DiffusionSchedule schedule, int stepIndex)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (!ReferenceEquals(schedule.Owner, this))
            throw new ArgumentException($"This schedule was made by another scheduler ({schedule.Owner.ClassName}); make it with this {ClassName}'s Schedule().", nameof(schedule));
        schedule.CheckIndex(stepIndex);
    }

    protected static void CheckSameShape(Tensor tensor, Tensor sample, string name)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        ArgumentNullException.ThrowIfNull(sample, nameof(sample));
        if (!tensor.shape.SequenceEqual(sample.shape))
            throw new ArgumentException($"{name} has shape [{string.Join(", ", tensor.shape)}] but the sample has shape [{string.Join(", ", sample.shape)}].", name);
    }

    protected Tensor RequireNoise(Tensor? noise, Tensor modelOutput, int stepIndex)
    {
        if (noise is null)
            throw new ArgumentNullException(nameof(noise), $"{ClassName} step {stepIndex} is stochastic: pass its standard-normal noise (see NeedsNoise and SchedulerNoise).");
        CheckSameShape(noise, modelOutput, nameof(noise));
        return noise;
    }

    protected void CheckNumInferenceSteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, "num_inference_steps must be at least 1.");
        if (numInferenceSteps > NumTrainTimesteps)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps,
                $"num_inference_steps {numInferenceSteps} cannot exceed num_train_timesteps {NumTrainTimesteps} of {Config.Source}.");
    }

    protected T CheckState<T>(SchedulerState? state, int stepIndex) where T : SchedulerState
    {
        if (state is null) return null!;
        if (state is not T typed)
            throw new ArgumentException($"{ClassName} cannot continue from a {state.GetType().Name}; pass the state its own previous step returned.", nameof(state));
        if (typed.NextStepIndex != stepIndex)
            throw new ArgumentException($"The state was made for step {typed.NextStepIndex} but step {stepIndex} was requested; {ClassName} steps must be consecutive.", nameof(state));
        return typed;
    }

    // ---- config helpers ----

    protected static PredictionType ReadPredictionType(SchedulerConfig config, params string[] supported)
    {
        var value = config.GetChoice("prediction_type", "epsilon", supported);
        return value switch
        {
            "epsilon" => PredictionType.Epsilon,
            "v_prediction" => PredictionType.VPrediction,
            "sample" => PredictionType.Sample,
            _ => throw config.Error("prediction_type", $"'{value}' is not supported."),
        };
    }

    protected static TimestepSpacing ReadSpacing(SchedulerConfig config, string fallback) =>
        config.GetChoice("timestep_spacing", fallback, "leading", "trailing", "linspace") switch
        {
            "leading" => TimestepSpacing.Leading,
            "trailing" => TimestepSpacing.Trailing,
            _ => TimestepSpacing.Linspace,
        };

    /// <summary>Rejects a boolean feature this library does not implement when the config turns it on.</summary>
    protected static void RejectIfTrue(SchedulerConfig config, string key, string what)
    {
        if (config.GetBool(key, false))
            throw config.Error(key, $"true is not supported ({what}).");
    }

    protected static void RejectEta(SchedulerConfig config, SchedulerSettings? settings, string className)
    {
        if (settings is { Eta: not 0 })
            throw new SchedulerConfigException(config.Source, "eta", $"eta = {settings.Eta} only applies to DDIMScheduler, not {className}.");
        if (settings is { UseClippedModelOutput: true })
            throw new SchedulerConfigException(config.Source, "use_clipped_model_output", $"only applies to DDIMScheduler, not {className}.");
    }

    /// <summary>The integer timesteps DDPM and DDIM use (descending), per <c>timestep_spacing</c>.</summary>
    protected double[] DdpmStyleTimesteps(TimestepSpacing spacing, int numInferenceSteps, int stepsOffset)
    {
        var n = NumTrainTimesteps;
        double[] timesteps;
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
                timesteps = NumPyCompat.Linspace(0, n - 1, numInferenceSteps).Select(NumPyCompat.Round).Reverse().ToArray();
                break;
            case TimestepSpacing.Leading:
                var ratio = n / numInferenceSteps;
                timesteps = Enumerable.Range(0, numInferenceSteps).Reverse().Select(i => (double)(i * ratio + stepsOffset)).ToArray();
                break;
            default:
                timesteps = NumPyCompat.Arange(n, 0, -(double)n / numInferenceSteps).Select(t => NumPyCompat.Round(t) - 1).ToArray();
                break;
        }
        CheckTimesteps(timesteps, spacing, numInferenceSteps);
        return timesteps;
    }

    /// <summary>Refuses schedules diffusers itself would index wrongly (e.g. the -1 that float-step arange produces for
    /// some step counts with trailing spacing, or steps_offset pushing past the last training timestep).</summary>
    protected void CheckTimesteps(IReadOnlyList<double> timesteps, TimestepSpacing spacing, int numInferenceSteps)
    {
        foreach (var t in timesteps)
            if (t < 0 || t > NumTrainTimesteps - 1)
                throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps,
                    $"{ClassName} with timestep_spacing '{spacing.ToString().ToLowerInvariant()}' and {numInferenceSteps} steps gives timestep {t}, outside [0, {NumTrainTimesteps - 1}] (diffusers would index it wrongly); choose another step count or spacing.");
    }
}
