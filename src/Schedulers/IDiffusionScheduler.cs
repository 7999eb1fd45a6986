using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// A diffusion scheduler with diffusers semantics, as pure functions. The mutable <c>set_timesteps</c>/<c>step_index</c>
/// /<c>model_outputs</c> fields of diffusers become explicit values: a <see cref="DiffusionSchedule"/> and a
/// <see cref="SchedulerState"/>. Randomness is explicit too: stochastic steps take their noise as an argument
/// (<see cref="SchedulerNoise"/> draws it from a torch generator the way diffusers does). Nothing is updated in place,
/// and every tensor result is built from torch operations on the inputs, so gradients flow through steps.
/// <code>
/// var schedule = scheduler.Schedule(50);
/// var x = SchedulerNoise.Randn(shape, generator) * schedule.InitNoiseSigma;
/// SchedulerState? state = null;
/// for (var i = 0; i &lt; schedule.Count; i++)
/// {
///     var input = scheduler.ScaleModelInput(schedule, i, x);
///     var eps = unet(input, schedule.TimestepTensor(i));
///     var noise = scheduler.NeedsNoise(schedule, i) ? SchedulerNoise.Randn(eps.shape, generator, eps.dtype) : null;
///     var step = scheduler.Step(schedule, i, eps, x, noise, state);
///     (x, state) = (step.PrevSample, step.State);   // dispose the old ones as you go
/// }
/// </code>
/// </summary>
public interface IDiffusionScheduler
{
    /// <summary>The diffusers class this reproduces, e.g. <c>DDIMScheduler</c>.</summary>
    string ClassName { get; }

    /// <summary>The config the scheduler was built from.</summary>
    SchedulerConfig Config { get; }

    /// <summary>The training noise schedule (betas, alphas_cumprod).</summary>
    BetaSchedule BetaSchedule { get; }

    /// <summary><c>num_train_timesteps</c>.</summary>
    int NumTrainTimesteps { get; }

    /// <summary>What the model predicts (<c>prediction_type</c>).</summary>
    PredictionType PredictionType { get; }

    /// <summary>diffusers' <c>set_timesteps(numInferenceSteps)</c>, returned as an immutable value.</summary>
    DiffusionSchedule Schedule(int numInferenceSteps);

    /// <summary>diffusers' <c>scale_model_input</c> at step <paramref name="stepIndex"/> (identity, as a new handle,
    /// for all but the Euler schedulers, which divide by sqrt(sigma^2 + 1)).</summary>
    Tensor ScaleModelInput(DiffusionSchedule schedule, int stepIndex, Tensor sample);

    /// <summary>Whether <see cref="Step"/> at <paramref name="stepIndex"/> consumes noise. diffusers draws from the
    /// generator exactly at these steps, so drawing only when this is true reproduces its random stream.</summary>
    bool NeedsNoise(DiffusionSchedule schedule, int stepIndex);

    /// <summary>
    /// One denoising step (diffusers' <c>step</c>): from the model output at step <paramref name="stepIndex"/> and the
    /// current sample to the previous (less noisy) sample. <paramref name="noise"/> (standard normal, shaped like
    /// <paramref name="modelOutput"/>) is required when <see cref="NeedsNoise"/> is true and ignored otherwise.
    /// <paramref name="state"/> is the previous step's <see cref="SchedulerStepOutput.State"/> (null at the first step).
    /// Inputs are never modified.
    /// </summary>
    SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample, Tensor? noise = null,
        SchedulerState? state = null);

    /// <summary>
    /// The one-step estimate of x_0 from the model output at step <paramref name="stepIndex"/> (ReFL's "predict the image
    /// from step k"): the <c>pred_original_sample</c> diffusers' step would return (clipping included where the config
    /// clips), for PNDM the same formula without clipping. Differentiable; needs no state.
    /// </summary>
    Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample);

    /// <summary>diffusers' <c>add_noise</c> at the noise level of step <paramref name="stepIndex"/> of
    /// <paramref name="schedule"/>: the sample a loop starting at that step expects (img2img, ReFL).</summary>
    Tensor AddNoise(DiffusionSchedule schedule, int stepIndex, Tensor originalSamples, Tensor noise);

    /// <summary>The training forward process at integer training timesteps (one per batch item, a 1-d integer tensor),
    /// in this scheduler's sample space: sqrt(acp) x_0 + sqrt(1 - acp) noise, or x_0 + sigma noise for the Euler
    /// schedulers. Equals diffusers' <c>add_noise(x, noise, timesteps)</c> for timesteps of a schedule.</summary>
    Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps);

    /// <summary>diffusers' <c>get_velocity</c>: v = sqrt(acp) noise - sqrt(1 - acp) sample at integer training timesteps.</summary>
    Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps);
}

/// <summary>diffusers' <c>prediction_type</c>.</summary>
public enum PredictionType
{
    /// <summary>"epsilon": the model predicts the added noise.</summary>
    Epsilon,

    /// <summary>"v_prediction": v = sqrt(acp) noise - sqrt(1 - acp) x_0.</summary>
    VPrediction,

    /// <summary>"sample": the model predicts x_0 directly.</summary>
    Sample,
}

/// <summary>diffusers' <c>timestep_spacing</c> (Table 2 of arXiv 2305.08891).</summary>
public enum TimestepSpacing
{
    Leading,
    Trailing,
    Linspace,
}
