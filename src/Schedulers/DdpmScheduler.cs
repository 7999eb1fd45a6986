using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// diffusers' <c>DDPMScheduler</c>, ancestral sampling (arXiv 2006.11239). Config fields: the beta fields (also
/// <c>sigmoid</c> and <c>laplace</c> schedules), <c>variance_type</c> (fixed_small, fixed_small_log, fixed_large),
/// <c>clip_sample</c> (default true), <c>clip_sample_range</c>, <c>prediction_type</c> (epsilon, v_prediction, sample),
/// <c>timestep_spacing</c>, <c>steps_offset</c>, <c>rescale_betas_zero_snr</c>; <c>thresholding</c> must be false.
/// Every step with t &gt; 0 needs noise (the posterior variance times a standard normal draw).
/// </summary>
public sealed class DdpmScheduler : DiffusionScheduler
{
    public const string DiffusersClassName = "DDPMScheduler";

    public DdpmScheduler(SchedulerConfig config, SchedulerSettings? settings = null)
        : base(config,
            BetaSchedule.FromConfig(config, [.. BetaSchedule.CommonSchedules, "sigmoid", "laplace"], readsRescale: true, zeroSnrTerminalAlphaCumprod: false),
            ReadPredictionType(config, "epsilon", "v_prediction", "sample"))
    {
        RejectEta(config, settings, DiffusersClassName);
        RejectIfTrue(config, "thresholding", "dynamic thresholding is not implemented");
        // null counts as fixed_small: diffusers' step then takes its default branch, sqrt(variance) * noise.
        VarianceType = config.GetString("variance_type", null) is null
            ? "fixed_small"
            : config.GetChoice("variance_type", "fixed_small", "fixed_small", "fixed_small_log", "fixed_large");
        ClipSample = config.GetBool("clip_sample", true);
        ClipSampleRange = config.GetDouble("clip_sample_range", 1.0);
        StepsOffset = config.GetInt("steps_offset", 0);
        Spacing = ReadSpacing(config, "leading");
    }

    public override string ClassName => DiffusersClassName;

    public string VarianceType { get; }

    public bool ClipSample { get; }

    public double ClipSampleRange { get; }

    public int StepsOffset { get; }

    public TimestepSpacing Spacing { get; }

    public override DiffusionSchedule Schedule(int numInferenceSteps)
    {
        CheckNumInferenceSteps(numInferenceSteps);
        var timesteps = DdpmStyleTimesteps(Spacing, numInferenceSteps, StepsOffset);
        return new DiffusionSchedule(this, numInferenceSteps, timesteps, ScalarType.Int64, sigmas: null, initNoiseSigma: 1.0);
    }

    public override bool NeedsNoise(DiffusionSchedule schedule, int stepIndex)
    {
        CheckSchedule(schedule, stepIndex);
        return schedule.Timesteps[stepIndex] > 0;
    }

    public override SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        if (state is not null) throw new ArgumentException($"{ClassName} keeps no state between steps; pass null.", nameof(state));
        var stochastic = NeedsNoise(schedule, stepIndex);
        if (stochastic) RequireNoise(noise, modelOutput, stepIndex);

        var c = Coefficients(schedule, stepIndex);
        using var scope = NewDisposeScope();
        var predOriginal = PredictOriginal(c, modelOutput, sample);
        // Posterior mean (formula 7 of the DDPM paper), coefficients in float32 as diffusers' 0-dim tensors.
        var originalCoeff = MathF.Sqrt(c.AlphaPrev) * c.CurrentBeta / c.Beta;
        var sampleCoeff = MathF.Sqrt(c.CurrentAlpha) * c.BetaPrev / c.Beta;
        var prev = predOriginal * originalCoeff + sample * sampleCoeff;
        if (stochastic) prev = prev + noise! * NoiseScale(c);
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope(), null);
    }

    public override Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        using var scope = NewDisposeScope();
        return PredictOriginal(Coefficients(schedule, stepIndex), modelOutput, sample).MoveToOuterDisposeScope();
    }

    private Tensor PredictOriginal(in StepCoefficients c, Tensor modelOutput, Tensor sample)
    {
        var original = PredictionType switch
        {
            PredictionType.Epsilon => (sample - modelOutput * MathF.Sqrt(c.Beta)) / MathF.Sqrt(c.Alpha),
            PredictionType.VPrediction => sample * MathF.Sqrt(c.Alpha) - modelOutput * MathF.Sqrt(c.Beta),
            _ => modelOutput.alias(),
        };
        return ClipSample ? original.clamp(-ClipSampleRange, ClipSampleRange) : original;
    }

    /// <summary>The factor of the step's standard normal noise (diffusers' <c>_get_variance</c>, then its step's use of it).</summary>
    private float NoiseScale(in StepCoefficients c)
    {
        var variance = MathF.Max((1f - c.AlphaPrev) / (1f - c.Alpha) * c.CurrentBeta, 1e-20f);
        return VarianceType switch
        {
            "fixed_small_log" => MathF.Exp(0.5f * MathF.Log(variance)),
            "fixed_large" => MathF.Sqrt(c.CurrentBeta),
            _ => MathF.Sqrt(variance),
        };
    }

    private StepCoefficients Coefficients(DiffusionSchedule schedule, int stepIndex)
    {
        // diffusers' previous_timestep: the next entry of the schedule, -1 after the last.
        var t = (int)schedule.Timesteps[stepIndex];
        var prevT = stepIndex == schedule.Count - 1 ? -1 : (int)schedule.Timesteps[stepIndex + 1];
        var alpha = AlphasCumprod[t];
        var alphaPrev = prevT >= 0 ? AlphasCumprod[prevT] : 1f;
        return new StepCoefficients(alpha, alphaPrev);
    }

    private readonly record struct StepCoefficients(float Alpha, float AlphaPrev)
    {
        public float Beta => 1f - Alpha;
        public float BetaPrev => 1f - AlphaPrev;
        public float CurrentAlpha => Alpha / AlphaPrev;
        public float CurrentBeta => 1f - CurrentAlpha;
    }
}
