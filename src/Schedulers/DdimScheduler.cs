using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// diffusers' <c>DDIMScheduler</c> (arXiv 2010.02502). Config fields: the beta fields, <c>clip_sample</c> (default
/// true), <c>clip_sample_range</c>, <c>set_alpha_to_one</c> (default true), <c>steps_offset</c>,
/// <c>prediction_type</c> (epsilon, v_prediction, sample), <c>timestep_spacing</c> (leading, trailing, linspace),
/// <c>rescale_betas_zero_snr</c>; <c>thresholding</c> must be false. <c>eta</c> and <c>use_clipped_model_output</c>
/// come from <see cref="SchedulerSettings"/>; with eta &gt; 0 every step needs noise (diffusers' <c>variance_noise</c>).
/// </summary>
public sealed class DdimScheduler : DiffusionScheduler
{
    public const string DiffusersClassName = "DDIMScheduler";

    private readonly float finalAlphaCumprod;

    public DdimScheduler(SchedulerConfig config, SchedulerSettings? settings = null)
        : base(config,
            BetaSchedule.FromConfig(config, BetaSchedule.CommonSchedules, readsRescale: true, zeroSnrTerminalAlphaCumprod: false),
            ReadPredictionType(config, "epsilon", "v_prediction", "sample"))
    {
        RejectIfTrue(config, "thresholding", "dynamic thresholding is not implemented");
        ClipSample = config.GetBool("clip_sample", true);
        ClipSampleRange = config.GetDouble("clip_sample_range", 1.0);
        SetAlphaToOne = config.GetBool("set_alpha_to_one", true);
        StepsOffset = config.GetInt("steps_offset", 0);
        Spacing = ReadSpacing(config, "leading");
        settings ??= SchedulerSettings.Default;
        if (!(settings.Eta >= 0) || double.IsInfinity(settings.Eta))
            throw new SchedulerConfigException(config.Source, "eta", $"must be a finite number >= 0 (got {settings.Eta}).");
        Eta = settings.Eta;
        UseClippedModelOutput = settings.UseClippedModelOutput;
        finalAlphaCumprod = SetAlphaToOne ? 1f : AlphasCumprod[0];
    }

    public override string ClassName => DiffusersClassName;

    public bool ClipSample { get; }

    public double ClipSampleRange { get; }

    public bool SetAlphaToOne { get; }

    public int StepsOffset { get; }

    public TimestepSpacing Spacing { get; }

    /// <summary>Weight of the added noise: 0 = DDIM, 1 = DDPM-like.</summary>
    public double Eta { get; }

    public bool UseClippedModelOutput { get; }

    public override DiffusionSchedule Schedule(int numInferenceSteps)
    {
        CheckNumInferenceSteps(numInferenceSteps);
        var timesteps = DdpmStyleTimesteps(Spacing, numInferenceSteps, StepsOffset);
        return new DiffusionSchedule(this, numInferenceSteps, timesteps, ScalarType.Int64, sigmas: null, initNoiseSigma: 1.0);
    }

    public override bool NeedsNoise(DiffusionSchedule schedule, int stepIndex)
    {
        CheckSchedule(schedule, stepIndex);
        return Eta > 0;
    }

    public override SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        if (state is not null) throw new ArgumentException($"{ClassName} keeps no state between steps; pass null.", nameof(state));
        if (Eta > 0) RequireNoise(noise, modelOutput, stepIndex);

        var c = Coefficients(schedule, stepIndex);
        using var scope = NewDisposeScope();
        var (predOriginal, predEpsilon) = PredictOriginalAndEpsilon(c, modelOutput, sample);
        if (UseClippedModelOutput)
            predEpsilon = (sample - predOriginal * c.SqrtAlpha) / c.SqrtBeta;

        // std = eta * sqrt(variance); direction = sqrt(1 - acp_prev - std^2) * eps (float32 like diffusers' 0-dim tensors)
        var variance = c.BetaPrev / c.Beta * (1f - c.Alpha / c.AlphaPrev);
        var std = (float)Eta * MathF.Sqrt(variance);
        var direction = predEpsilon * MathF.Sqrt(1f - c.AlphaPrev - std * std);
        var prev = predOriginal * MathF.Sqrt(c.AlphaPrev) + direction;
        if (Eta > 0) prev = prev + noise! * std;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope(), null);
    }

    public override Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        using var scope = NewDisposeScope();
        return PredictOriginalAndEpsilon(Coefficients(schedule, stepIndex), modelOutput, sample).Original.MoveToOuterDisposeScope();
    }

    /// <summary>diffusers' DDIM prediction of x_0 (clipped when configured) and of epsilon.</summary>
    private (Tensor Original, Tensor Epsilon) PredictOriginalAndEpsilon(in StepCoefficients c, Tensor modelOutput, Tensor sample)
    {
        Tensor original, epsilon;
        switch (PredictionType)
        {
            case PredictionType.Epsilon:
                original = (sample - modelOutput * c.SqrtBeta) / c.SqrtAlpha;
                epsilon = modelOutput;
                break;
            case PredictionType.Sample:
                original = modelOutput.alias();
                epsilon = (sample - original * c.SqrtAlpha) / c.SqrtBeta;
                break;
            default:
                original = sample * c.SqrtAlpha - modelOutput * c.SqrtBeta;
                epsilon = modelOutput * c.SqrtAlpha + sample * c.SqrtBeta;
                break;
        }
        if (ClipSample) original = original.clamp(-ClipSampleRange, ClipSampleRange);
        return (original, epsilon);
    }

    private StepCoefficients Coefficients(DiffusionSchedule schedule, int stepIndex)
    {
        // diffusers: prev_timestep = timestep - num_train_timesteps // num_inference_steps (whatever the spacing).
        var t = (int)schedule.Timesteps[stepIndex];
        var prevT = t - NumTrainTimesteps / schedule.NumInferenceSteps;
        var alpha = AlphasCumprod[t];
        var alphaPrev = prevT >= 0 ? AlphasCumprod[prevT] : finalAlphaCumprod;
        return new StepCoefficients(alpha, alphaPrev);
    }

    private readonly record struct StepCoefficients(float Alpha, float AlphaPrev)
    {
        public float Beta => 1f - Alpha;
        public float BetaPrev => 1f - AlphaPrev;
        public float SqrtAlpha => MathF.Sqrt(Alpha);
        public float SqrtBeta => MathF.Sqrt(Beta);
    }
}
