using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// diffusers' <c>EulerAncestralDiscreteScheduler</c> ("euler_a"): an Euler step to sigma_down plus fresh noise of scale
/// sigma_up. Config fields: the beta fields, <c>prediction_type</c> (epsilon, v_prediction), <c>timestep_spacing</c>
/// (default linspace), <c>steps_offset</c>, <c>rescale_betas_zero_snr</c>. Every step needs noise (diffusers draws it at
/// every step, the last included, so the random stream stays aligned).
/// </summary>
public sealed class EulerAncestralDiscreteScheduler : DiffusionScheduler
{
    public const string DiffusersClassName = "EulerAncestralDiscreteScheduler";

    private readonly float[] trainSigmas;

    public EulerAncestralDiscreteScheduler(SchedulerConfig config, SchedulerSettings? settings = null)
        : base(config,
            BetaSchedule.FromConfig(config, BetaSchedule.CommonSchedules, readsRescale: true, zeroSnrTerminalAlphaCumprod: true),
            ReadPredictionType(config, "epsilon", "v_prediction"))
    {
        RejectEta(config, settings, DiffusersClassName);
        Spacing = ReadSpacing(config, "linspace");
        StepsOffset = config.GetInt("steps_offset", 0);
        trainSigmas = SigmaSchedules.TrainSigmas(AlphasCumprod);
    }

    public override string ClassName => DiffusersClassName;

    public TimestepSpacing Spacing { get; }

    public int StepsOffset { get; }

    public override DiffusionSchedule Schedule(int numInferenceSteps)
    {
        CheckNumInferenceSteps(numInferenceSteps);
        var timesteps = EulerDiscreteScheduler.EulerTimesteps(Spacing, NumTrainTimesteps, numInferenceSteps, StepsOffset);
        CheckTimesteps(timesteps, Spacing, numInferenceSteps);
        var sigmas = timesteps.Select(t => (float)NumPyCompat.Interp(t, trainSigmas)).Append(0f).ToArray();
        return new DiffusionSchedule(this, numInferenceSteps, timesteps, ScalarType.Float32, sigmas,
            EulerDiscreteScheduler.InitNoiseSigma(sigmas, Spacing));
    }

    public override Tensor ScaleModelInput(DiffusionSchedule schedule, int stepIndex, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        var sigma = schedule.Sigma(stepIndex);
        return sample / MathF.Sqrt(sigma * sigma + 1f);
    }

    public override bool NeedsNoise(DiffusionSchedule schedule, int stepIndex)
    {
        CheckSchedule(schedule, stepIndex);
        return true;
    }

    public override SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        if (state is not null) throw new ArgumentException($"{ClassName} keeps no state between steps; pass null.", nameof(state));
        RequireNoise(noise, modelOutput, stepIndex);
        var sigmaFrom = schedule.Sigma(stepIndex);
        var sigmaTo = schedule.Sigma(stepIndex + 1);
        var sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        var sigmaDown = MathF.Sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);

        using var scope = NewDisposeScope();
        var x = sample.to(ScalarType.Float32);
        var predOriginal = EulerDiscreteScheduler.PredictOriginal(PredictionType, sigmaFrom, modelOutput, x);
        var derivative = (x - predOriginal) / sigmaFrom;
        var prev = x + derivative * (sigmaDown - sigmaFrom);
        prev = (prev + noise! * sigmaUp).to(modelOutput.dtype);
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope(), null);
    }

    public override Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        using var scope = NewDisposeScope();
        return EulerDiscreteScheduler.PredictOriginal(PredictionType, schedule.Sigma(stepIndex), modelOutput, sample.to(ScalarType.Float32))
            .MoveToOuterDisposeScope();
    }

    public override Tensor AddNoise(DiffusionSchedule schedule, int stepIndex, Tensor originalSamples, Tensor noise)
    {
        CheckSchedule(schedule, stepIndex);
        return AddSigmaNoise(originalSamples, noise, schedule.Sigma(stepIndex));
    }

    /// <summary>x_0 + sigma(t) noise with the training sigma of each (integer) timestep.</summary>
    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddTrainSigmaNoise(originalSamples, noise, timesteps, trainSigmas);
}
