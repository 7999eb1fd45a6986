using TorchSharp;
using TorchSharp.Modules;

namespace BiasBench.Abstractions.Torch;

/// <summary>Which weights of a generator's denoising network a fine-tuner trains.</summary>
public enum TrainableWeightsKind
{
    /// <summary>Every parameter of the denoising network (UNet).</summary>
    Full,

    /// <summary>Low-rank adapters (LoRA) on the attention projections (to_q, to_k, to_v, to_out.0); the base weights stay frozen.</summary>
    Lora,
}

/// <summary>How <see cref="IDifferentiableImageGenerator.PrepareTraining"/> sets the network up.</summary>
public sealed record TrainingSetup
{
    public TrainableWeightsKind Kind { get; init; } = TrainableWeightsKind.Full;

    /// <summary>LoRA rank (inner width) and alpha (the update is scaled by alpha / rank).</summary>
    public int LoraRank { get; init; } = 8;

    public double LoraAlpha { get; init; } = 8;

    /// <summary>Seed of the LoRA down-projections' initialisation (the up-projections start at zero, so the adapted
    /// network starts as the base network).</summary>
    public long InitSeed { get; init; }

    /// <summary>
    /// The dtype the network computes in. Null: float32. bfloat16: mixed precision without autocast (TorchSharp has
    /// none): the trainable parameters handed out stay float32 master weights (what the optimiser, gradient clipping,
    /// EMA and checkpoints see); forward and backward run on a bf16 working copy that is refreshed from the masters
    /// before every pass, and its gradients are added to the masters' float32 gradients after every backward.
    /// </summary>
    public torch.ScalarType? ComputeDType { get; init; }
}

/// <summary>
/// One differentiable sampling pass. Steps [0, first gradient step) run without autograd; the rest keep the graph.
/// DRaFT-K: <see cref="GradientSteps"/> = K (the last K of the schedule's steps). ReFL: <see cref="StopStep"/> = s
/// (steps [0, s) without gradient, then one network call at step s with gradient, and the image is that call's one-step
/// x0 prediction). DRaFT-LV: <see cref="GradientSteps"/> = 1 with <see cref="LastStepDraws"/> = n: the whole loop runs
/// without gradient, then the final sample is noised again to the last step's noise level n times (forward process,
/// <see cref="LastStepNoise"/>) and the last step is taken with gradient from each; the loss is the mean over draws.
/// </summary>
public sealed record DifferentiableSampling
{
    /// <summary>One prompt per item (a conditional generator is conditioned on it; an unconditional one ignores it).</summary>
    public required IReadOnlyList<string> Prompts { get; init; }

    /// <summary>Per-item negative prompts of a guided generator (the unconditional half of classifier-free guidance);
    /// null or a null item: "" (as diffusers). Ignored by an unconditional generator.</summary>
    public IReadOnlyList<string?>? NegativePrompts { get; init; }

    /// <summary>Per-item seeds: x_T (and stochastic steps' noise) drawn as the generator's own sampling draws them.</summary>
    public IReadOnlyList<long>? Seeds { get; init; }

    /// <summary>Explicit x_T [N, ...sample shape] (overrides the seeds' x_T).</summary>
    public torch.Tensor? InitialNoise { get; init; }

    /// <summary>Noise of a stochastic step (step index, shape) when no seeds are given (eta &gt; 0 and explicit x_T).</summary>
    public Func<int, long[], torch.Tensor>? StepNoise { get; init; }

    /// <summary>DRaFT-K's K: how many of the last steps keep the graph. Ignored when <see cref="StopStep"/> is set.</summary>
    public int GradientSteps { get; init; } = 1;

    /// <summary>ReFL: the step index whose one-step x0 prediction is the image (steps before it run without gradient).</summary>
    public int? StopStep { get; init; }

    /// <summary>DRaFT-LV: how many noise draws of the last step (1 = plain DRaFT-K).</summary>
    public int LastStepDraws { get; init; } = 1;

    /// <summary>DRaFT-LV: the noise of draw d (draw index, shape); required when <see cref="LastStepDraws"/> &gt; 1.</summary>
    public Func<int, long[], torch.Tensor>? LastStepNoise { get; init; }

    /// <summary>
    /// Step-level gradient checkpointing: the gradient steps run without keeping activations, storing only each step's
    /// input sample; the backward pass then recomputes one step at a time (last to first) and back-propagates through
    /// it, so activation memory is one network call's, whatever K (at the cost of one extra forward per gradient step).
    /// </summary>
    public bool RecomputeSteps { get; init; }

    /// <summary>Weight of the penalty toward the base model: weight x mean((f_theta(x_t, t) - f_base(x_t, t))^2) over
    /// every network call with gradient (0: off).</summary>
    public double BasePenaltyWeight { get; init; }
}

/// <summary>What one differentiable pass produced (after its backward).</summary>
/// <param name="Images">The images the objective saw, detached, float32 [N, 3, H, W] in [0, 1] on the CPU (the last draw
/// for DRaFT-LV).</param>
/// <param name="Loss">The objective's value (mean over draws), without the base penalty.</param>
/// <param name="BasePenalty">The weighted base penalty added to the loss (0 when off).</param>
public sealed record DifferentiableSampleResult(torch.Tensor Images, double Loss, double BasePenalty);

/// <summary>
/// A generator that can be fine-tuned against a differentiable reward: sampling with gradients through the last K
/// denoising steps (DRaFT) or from a stop step with one-step x0 prediction (ReFL), with explicit seeds or noise, its
/// trainable parameters (full or LoRA), the pre-training denoising loss (ReFL's regulariser), and saving the trained
/// weights in the diffusers layout so that the same generator plugin loads them (<c>model: FOLDER</c>).
/// <see cref="IImageGenerator.GenerateAsync"/> samples with the current (trained) weights.
/// </summary>
public interface IDifferentiableImageGenerator : IImageGenerator
{
    /// <summary>The device the network runs on.</summary>
    torch.Device Device { get; }

    /// <summary>Denoising steps of one sampling run with the generator's settings (the schedule's length).</summary>
    int SamplingSteps { get; }

    /// <summary>Size of the images it makes.</summary>
    (int Height, int Width) ImageSize { get; }

    /// <summary>What a fine-tuner trains when its configuration does not say: every weight for a small network (ddpm),
    /// LoRA where memory demands (Stable Diffusion).</summary>
    TrainableWeightsKind PreferredTrainableWeights => TrainableWeightsKind.Full;

    /// <summary>
    /// Makes the network trainable: the generator takes a copy of its weights of its own (other users of the same
    /// loaded model keep the base weights, which also serve the base penalty) and returns the parameters to optimise,
    /// by diffusers parameter name (float32 master weights; see <see cref="TrainingSetup.ComputeDType"/>). Call once.
    /// </summary>
    IReadOnlyList<(string Name, Parameter Parameter)> PrepareTraining(TrainingSetup setup);

    /// <summary>
    /// One differentiable sampling pass: runs <paramref name="request"/>, calls <paramref name="objective"/> on the images
    /// ([N, 3, H, W] in [0, 1], connected to the graph) for a scalar loss, adds the base penalty, and back-propagates,
    /// adding to the trainable parameters' gradients (call the optimiser's zero-grad between updates).
    /// </summary>
    DifferentiableSampleResult Backward(DifferentiableSampling request, Func<torch.Tensor, torch.Tensor> objective);

    /// <summary>
    /// The pre-training (denoising) loss on real images, back-propagated with <paramref name="weight"/>: x_0 = images
    /// mapped to the model's range, noise and integer training timesteps drawn from <paramref name="generator"/>, the
    /// network's prediction against its training target (noise, velocity or sample), mean squared error. Returns the
    /// unweighted loss.
    /// </summary>
    double DenoisingBackward(torch.Tensor images, IReadOnlyList<string> prompts, torch.Generator generator, double weight);

    /// <summary>Sets the trainable parameters' values (e.g. EMA weights for evaluation) and returns the previous ones.</summary>
    IReadOnlyDictionary<string, torch.Tensor> SwapTrainableValues(IReadOnlyDictionary<string, torch.Tensor> values);

    /// <summary>
    /// Writes the network with its current weights (LoRA merged into the base weights) in the diffusers layout under
    /// <paramref name="directory"/> (model_index.json, unet/config.json + diffusion_pytorch_model.safetensors,
    /// scheduler/scheduler_config.json), loadable by the same generator plugin. Returns the folder.
    /// </summary>
    string SaveTrained(string directory, IReadOnlyDictionary<string, string>? metadata = null);
}
