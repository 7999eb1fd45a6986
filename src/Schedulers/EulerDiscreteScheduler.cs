using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// diffusers' <c>EulerDiscreteScheduler</c> (Karras et al. 2022, Algorithm 2 without churn). Config fields: the beta
/// fields, <c>prediction_type</c> (epsilon, v_prediction, sample), <c>interpolation_type</c> (linear),
/// <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c>, <c>sigma_min</c>, <c>sigma_max</c>,
/// <c>timestep_spacing</c> (default linspace), <c>timestep_type</c> (discrete; continuous with v_prediction uses
/// 0.25 log sigma), <c>steps_offset</c>, <c>rescale_betas_zero_snr</c>, <c>final_sigmas_type</c> (zero, sigma_min);
/// <c>use_beta_sigmas</c> and <c>log_linear</c> interpolation are refused. Samples live in sigma space: the model
/// input is sample / sqrt(sigma^2 + 1), initial noise is scaled by <see cref="DiffusionSchedule.InitNoiseSigma"/>.
/// Step arithmetic runs in float32 and the result is cast back to the model output's dtype, as in diffusers.
/// </summary>
public sealed class EulerDiscreteScheduler : DiffusionScheduler
{
    public const string DiffusersClassName = "EulerDiscreteScheduler";

    private readonly float[] trainSigmas;
    private readonly float[] logSigmas;

    public EulerDiscreteScheduler(SchedulerConfig config, SchedulerSettings? settings = null)
        : base(config,
            BetaSchedule.FromConfig(config, BetaSchedule.CommonSchedules, readsRescale: true, zeroSnrTerminalAlphaCumprod: true),
            ReadPredictionType(config, "epsilon", "v_prediction", "sample"))
    {
        RejectEta(config, settings, DiffusersClassName);
        config.GetChoice("interpolation_type", "linear", "linear");
        UseKarrasSigmas = config.GetBool("use_karras_sigmas", false);
        UseExponentialSigmas = config.GetBool("use_exponential_sigmas", false);
        RejectIfTrue(config, "use_beta_sigmas", "beta-distributed sigmas need scipy's beta.ppf and are not implemented");
        if (UseKarrasSigmas && UseExponentialSigmas)
            throw config.Error("use_exponential_sigmas", "only one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas can be true.");
        SigmaMin = config.GetNullableDouble("sigma_min");
        SigmaMax = config.GetNullableDouble("sigma_max");
        Spacing = ReadSpacing(config, "linspace");
        ContinuousTimesteps = config.GetChoice("timestep_type", "discrete", "discrete", "continuous") == "continuous";
        StepsOffset = config.GetInt("steps_offset", 0);
        FinalSigmaIsMin = config.GetChoice("final_sigmas_type", "zero", "zero", "sigma_min") == "sigma_min";
        trainSigmas = SigmaSchedules.TrainSigmas(AlphasCumprod);
        logSigmas = SigmaSchedules.LogSigmas(trainSigmas);
    }

    public override string ClassName => DiffusersClassName;

    public bool UseKarrasSigmas { get; }

    public bool UseExponentialSigmas { get; }

    public double? SigmaMin { get; }

    public double? SigmaMax { get; }

    public TimestepSpacing Spacing { get; }

    /// <summary><c>timestep_type: continuous</c> (only changes anything with v_prediction).</summary>
    public bool ContinuousTimesteps { get; }

    public int StepsOffset { get; }

    /// <summary><c>final_sigmas_type: sigma_min</c> instead of zero.</summary>
    public bool FinalSigmaIsMin { get; }

    public override DiffusionSchedule Schedule(int numInferenceSteps)
    {
        CheckNumInferenceSteps(numInferenceSteps);
        var timesteps = EulerTimesteps(Spacing, NumTrainTimesteps, numInferenceSteps, StepsOffset);
        CheckTimesteps(timesteps, Spacing, numInferenceSteps);
        var sigmas = timesteps.Select(t => NumPyCompat.Interp(t, trainSigmas)).ToArray();
        if (UseKarrasSigmas || UseExponentialSigmas)
        {
            // diffusers takes the range from the interpolated sigmas unless sigma_min/sigma_max are configured.
            var min = SigmaMin ?? sigmas[^1];
            var max = SigmaMax ?? sigmas[0];
            sigmas = UseKarrasSigmas ? SigmaSchedules.Karras(min, max, numInferenceSteps) : SigmaSchedules.Exponential(min, max, numInferenceSteps);
            timesteps = sigmas.Select(s => SigmaSchedules.SigmaToT(s, logSigmas)).ToArray();
        }
        var last = FinalSigmaIsMin ? trainSigmas[0] : 0f;
        var allSigmas = sigmas.Select(s => (float)s).Append(last).ToArray();
        var floatTimesteps = ContinuousTimesteps && PredictionType == PredictionType.VPrediction
            ? allSigmas[..^1].Select(s => (double)(0.25f * (float)Math.Log(s))).ToArray()
            : timesteps.Select(t => (double)(float)t).ToArray();
        return new DiffusionSchedule(this, numInferenceSteps, floatTimesteps, ScalarType.Float32, allSigmas, InitNoiseSigma(allSigmas, Spacing));
    }

    public override Tensor ScaleModelInput(DiffusionSchedule schedule, int stepIndex, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        var sigma = schedule.Sigma(stepIndex);
        return sample / MathF.Sqrt(sigma * sigma + 1f);
    }

    public override SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        if (state is not null) throw new ArgumentException($"{ClassName} keeps no state between steps; pass null.", nameof(state));
        var sigma = schedule.Sigma(stepIndex);
        var sigmaNext = schedule.Sigma(stepIndex + 1);
        using var scope = NewDisposeScope();
        var x = sample.to(ScalarType.Float32);
        var predOriginal = PredictOriginal(PredictionType, sigma, modelOutput, x);
        // No churn (s_churn = 0, diffusers' default): sigma_hat = sigma.
        var derivative = (x - predOriginal) / sigma;
        var prev = (x + derivative * (sigmaNext - sigma)).to(modelOutput.dtype);
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope(), null);
    }

    public override Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        using var scope = NewDisposeScope();
        return PredictOriginal(PredictionType, schedule.Sigma(stepIndex), modelOutput, sample.to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    public override Tensor AddNoise(DiffusionSchedule schedule, int stepIndex, Tensor originalSamples, Tensor noise)
    {
        CheckSchedule(schedule, stepIndex);
        return AddSigmaNoise(originalSamples, noise, schedule.Sigma(stepIndex));
    }

    /// <summary>x_0 + sigma(t) noise with the training sigma of each (integer) timestep.</summary>
    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddTrainSigmaNoise(originalSamples, noise, timesteps, trainSigmas);

    /// <summary>x_0 estimate of the Euler schedulers (float32 sample).</summary>
    internal static Tensor PredictOriginal(PredictionType predictionType, float sigma, Tensor modelOutput, Tensor sample) => predictionType switch
    {
        PredictionType.Epsilon => sample - modelOutput * sigma,
        PredictionType.VPrediction => modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1f)) + sample / (sigma * sigma + 1f),
        _ => modelOutput.alias(),
    };

    /// <summary>diffusers' <c>init_noise_sigma</c> of the Euler schedulers: max sigma (linspace, trailing) or
    /// sqrt(max^2 + 1) (leading), float32.</summary>
    internal static double InitNoiseSigma(float[] sigmas, TimestepSpacing spacing)
    {
        var max = sigmas.Max();
        return spacing == TimestepSpacing.Leading ? MathF.Sqrt(max * max + 1f) : max;
    }

    /// <summary>The Euler schedulers' float32 timesteps (descending) per <c>timestep_spacing</c>.</summary>
    internal static double[] EulerTimesteps(TimestepSpacing spacing, int trainSteps, int numInferenceSteps, int stepsOffset) => spacing switch
    {
        TimestepSpacing.Linspace => NumPyCompat.Linspace(0, trainSteps - 1, numInferenceSteps).Reverse().Select(t => (double)(float)t).ToArray(),
        TimestepSpacing.Leading => Enumerable.Range(0, numInferenceSteps).Reverse()
            .Select(i => (double)((float)(i * (trainSteps / numInferenceSteps)) + stepsOffset)).ToArray(),
        _ => NumPyCompat.Arange(trainSteps, 0, -(double)trainSteps / numInferenceSteps)
            .Select(t => (double)((float)NumPyCompat.Round(t) - 1f)).ToArray(),
    };
}
