using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;

namespace BiasBench.Plugins.FineTuning;

/// <summary>
/// Options every reward fine-tuner shares (YAML keys in snake_case). The generator, the training rewards and the
/// monitor's judges and rewards are components configured inline: <c>generator: { plugin: ddpm, options: {...} }</c>,
/// <c>reward: { plugin: hps-v2.1, options: {...} }</c> or a weighted <c>rewards:</c> list.
/// </summary>
public abstract class RewardFineTuningOptions : IValidatableObject
{
    /// <summary>The generator to fine-tune; it must be differentiable (the <c>ddpm</c> and <c>stable-diffusion</c> generators are). It gets an instance of its own.</summary>
    [Required]
    [ExclusiveInstance]
    public ComponentReference<IDifferentiableImageGenerator>? Generator { get; set; }

    /// <summary>The training reward (a differentiable reward model). Give this or <see cref="Rewards"/>.</summary>
    public ComponentReference<IDifferentiableRewardModel>? Reward { get; set; }

    /// <summary>Several training rewards; the training signal is their weighted sum (each entry's <c>weight</c>, default 1).</summary>
    public List<ComponentReference<IDifferentiableRewardModel>>? Rewards { get; set; }

    /// <summary>The prompt the rewards score every image against (an unconditional generator has none of its own).</summary>
    [Required]
    public string RewardPrompt { get; set; } = "a portrait photo of a face";

    /// <summary>
    /// Prompts for a conditional generator (stable-diffusion), taken in turn: item i of the run's n-th image is
    /// conditioned on prompts[n mod count] and every reward scores it against that prompt; the monitor's seed j uses
    /// prompts[j mod count]. Null: every image is conditioned on and scored against <see cref="RewardPrompt"/>. An
    /// unconditional generator (ddpm) ignores the conditioning; the rewards still use these prompts.
    /// </summary>
    public List<string>? Prompts { get; set; }

    /// <summary>The prompt of the run's <paramref name="index"/>-th image (see <see cref="Prompts"/>).</summary>
    public string PromptAt(long index) => Prompts is { Count: > 0 } list ? list[(int)(index % list.Count)] : RewardPrompt;

    /// <summary>Optimiser updates.</summary>
    [Range(1, 1_000_000)]
    public int TrainingSteps { get; set; } = 200;

    /// <summary>Images per differentiable pass (micro-batch).</summary>
    [Range(1, 4096)]
    public int BatchSize { get; set; } = 4;

    /// <summary>Passes whose gradients are summed (each scaled by 1 / this) before an update.</summary>
    [Range(1, 1024)]
    public int GradientAccumulation { get; set; } = 1;

    [Range(0.0, 1.0)]
    public double LearningRate { get; set; } = 1e-5;

    /// <summary>Linear warm-up updates before the cosine decay to <see cref="MinLearningRate"/>.</summary>
    [Range(0, 1_000_000)]
    public int WarmupSteps { get; set; }

    [Range(0.0, 1.0)]
    public double MinLearningRate { get; set; }

    [Range(0.0, 10.0)]
    public double WeightDecay { get; set; }

    [Range(0.0, 1.0)]
    public double AdamBeta1 { get; set; } = 0.9;

    [Range(0.0, 1.0)]
    public double AdamBeta2 { get; set; } = 0.999;

    [Range(0.0, 1.0)]
    public double AdamEpsilon { get; set; } = 1e-8;

    /// <summary>Global gradient-norm clip (0 = off).</summary>
    [Range(0.0, 1e6)]
    public double GradientClip { get; set; } = 1.0;

    /// <summary>EMA decay of the trained weights (empty = no EMA). With EMA the saved model and the monitor use the average.</summary>
    [Range(0.0, 0.999999)]
    public double? EmaDecay { get; set; }

    /// <summary>full (every UNet parameter), lora (adapters on the attention projections, merged when saving), or auto
    /// (the generator's preference: full for ddpm, lora for stable-diffusion).</summary>
    [RegularExpression("^(auto|full|lora)$", ErrorMessage = "trainable must be auto, full or lora.")]
    public string Trainable { get; set; } = "auto";

    [Range(1, 1024)]
    public int LoraRank { get; set; } = 8;

    [Range(0.0, 1e6)]
    public double LoraAlpha { get; set; } = 8;

    /// <summary>auto (bf16 compute with float32 master weights on CUDA, float32 on the CPU), float32 or bfloat16.</summary>
    [RegularExpression("^(auto|float32|bfloat16)$", ErrorMessage = "precision must be auto, float32 or bfloat16.")]
    public string Precision { get; set; } = "auto";

    /// <summary>Recompute the gradient steps one at a time in the backward pass (step-level gradient checkpointing): memory of
    /// one network call whatever K, one extra forward per gradient step.</summary>
    public bool RecomputeSteps { get; set; }

    /// <summary>Weight of the penalty mean((f_theta - f_base)^2) on every network call with gradient (0 = off).</summary>
    [Range(0.0, 1e6)]
    public double BasePenalty { get; set; }

    /// <summary>Write a resumable checkpoint every N updates (and at the end).</summary>
    [Range(1, 1_000_000)]
    public int CheckpointEverySteps { get; set; } = 50;

    /// <summary>Log reward and loss every N updates.</summary>
    [Range(1, 1_000_000)]
    public int LogEverySteps { get; set; } = 10;

    /// <summary>Reward-hacking monitor: every N updates (and before the first and after the last) generate
    /// <see cref="MonitorImages"/> fixed seeds and score them. 0 = off.</summary>
    [Range(0, 1_000_000)]
    public int MonitorEverySteps { get; set; } = 50;

    /// <summary>Images the monitor generates each time (seeds <see cref="MonitorSeedStart"/> onward, the same every time).</summary>
    [Range(1, 100_000)]
    public int MonitorImages { get; set; } = 64;

    /// <summary>First monitor seed (kept away from the evaluation seeds 0..999 by default).</summary>
    [Range(0, long.MaxValue)]
    public long MonitorSeedStart { get; set; } = 1_000_000;

    /// <summary>Independent judges the monitor asks (e.g. the ResNet attractiveness classifier).</summary>
    public List<ComponentReference<IJudge>>? Judges { get; set; }

    /// <summary>The judge label counted as "attractive" (default: each judge's first label).</summary>
    public string? JudgePositiveLabel { get; set; }

    /// <summary>Further reward models the monitor scores the images with (not trained against).</summary>
    public List<ComponentReference<IRewardModel>>? MonitorRewards { get; set; }

    /// <summary>How many monitor steps get a sample grid in the report (first, last and evenly between).</summary>
    [Range(0, 100)]
    public int SampleGrids { get; set; } = 3;

    /// <summary>Images per sample grid (the first monitor seeds).</summary>
    [Range(1, 256)]
    public int GridImages { get; set; } = 16;

    /// <summary>The algorithm's name (draft, draft-lv, refl).</summary>
    [JsonIgnore]
    public abstract string Algorithm { get; }

    /// <summary>The training rewards with their weights.</summary>
    public IReadOnlyList<ComponentReference<IDifferentiableRewardModel>> TrainingRewards() =>
        Rewards is { Count: > 0 } list ? list : Reward is { } single ? [single] : [];

    public virtual IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Prompts is { } prompts && (prompts.Count == 0 || prompts.Any(string.IsNullOrWhiteSpace)))
            yield return new ValidationResult("prompts must be a non-empty list of non-empty prompts (or left out: reward_prompt).", [nameof(Prompts)]);
        if (Reward is null && Rewards is not { Count: > 0 })
            yield return new ValidationResult("give a training reward: 'reward' or a non-empty 'rewards' list.", [nameof(Reward)]);
        if (Reward is not null && Rewards is { Count: > 0 })
            yield return new ValidationResult("give either 'reward' or 'rewards', not both.", [nameof(Rewards)]);
        if (TrainingRewards().Any(r => !double.IsFinite(r.Weight)))
            yield return new ValidationResult("reward weights must be finite numbers.", [nameof(Rewards)]);
        if (WarmupSteps > TrainingSteps)
            yield return new ValidationResult($"warmup_steps ({WarmupSteps}) exceeds training_steps ({TrainingSteps}).", [nameof(WarmupSteps)]);
    }

    /// <summary>The generator's training setup; <paramref name="preferred"/> is the generator's choice for trainable: auto.</summary>
    public TrainingSetup Setup(TorchSharp.torch.ScalarType? computeDType, long initSeed, TrainableWeightsKind preferred = TrainableWeightsKind.Full) => new()
    {
        Kind = Trainable switch { "lora" => TrainableWeightsKind.Lora, "full" => TrainableWeightsKind.Full, _ => preferred },
        LoraRank = LoraRank,
        LoraAlpha = LoraAlpha,
        ComputeDType = computeDType,
        InitSeed = initSeed,
    };
}

/// <summary>DRaFT-K (Clark et al., 2024): the reward's gradient through the last K sampling steps; loss = -mean(reward).</summary>
public sealed class DraftOptions : RewardFineTuningOptions
{
    /// <summary>K: how many of the last denoising steps keep the graph (1 = DRaFT-1).</summary>
    [Range(1, 1000)]
    public int GradientSteps { get; set; } = 1;

    public override string Algorithm => "draft";
}

/// <summary>DRaFT-LV: K = 1 with several noise draws of the last step per sample (lower-variance gradient).</summary>
public sealed class DraftLvOptions : RewardFineTuningOptions
{
    /// <summary>Noise draws of the last step per sample (the paper uses 2).</summary>
    [Range(1, 64)]
    public int Draws { get; set; } = 2;

    public override string Algorithm => "draft-lv";
}

/// <summary>
/// ReFL (ImageReward, Xu et al., 2023): sample without gradient to a random stop step in [stop_step_min, stop_step_max],
/// predict x0 in one step with gradient, loss = mean(relu(margin - reward)) x scale; with a folder of real images, the
/// pre-training denoising loss on them is added (weight <see cref="PretrainWeight"/>) as a regulariser.
/// </summary>
public sealed class ReflOptions : RewardFineTuningOptions
{
    /// <summary>Smallest stop step index (default: three quarters of the schedule, ImageReward's 30 of 40).</summary>
    [Range(0, 1000)]
    public int? StopStepMin { get; set; }

    /// <summary>Largest stop step index (default: the last step, ImageReward's 39 of 40).</summary>
    [Range(0, 1000)]
    public int? StopStepMax { get; set; }

    /// <summary>The hinge: loss = relu(margin - reward).</summary>
    public double Margin { get; set; } = 2.0;

    /// <summary>ImageReward's grad_scale.</summary>
    [Range(0.0, 1e6)]
    public double LossScale { get; set; } = 1e-3;

    /// <summary>A folder of real images (e.g. CelebA-HQ faces) for the pre-training loss; empty = no regulariser.</summary>
    public string? DatasetDirectory { get; set; }

    /// <summary>Weight of the pre-training loss.</summary>
    [Range(0.0, 1e6)]
    public double PretrainWeight { get; set; } = 1.0;

    public override string Algorithm => "refl";

    public override IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var r in base.Validate(validationContext)) yield return r;
        if (StopStepMin is { } min && StopStepMax is { } max && min > max)
            yield return new ValidationResult($"stop_step_min ({min}) exceeds stop_step_max ({max}).", [nameof(StopStepMin)]);
    }
}
