using BiasBench.Abstractions.Torch;
using BiasBench.Training;
using static TorchSharp.torch;

namespace BiasBench.Plugins.FineTuning;

/// <summary>One differentiable pass of an algorithm: the sampling request and the loss on the images.</summary>
public sealed record AlgorithmPass(DifferentiableSampling Request, Func<Tensor, Tensor> Loss, string Description);

/// <summary>
/// What differs between DRaFT-K, DRaFT-LV and ReFL: where the gradient flows in the sampling loop and the loss on the
/// rewards. Every random choice (x_T seeds, the stop step, the last-step noise) derives from the run seed and the
/// pass's coordinates (update, micro-batch), so a resumed run repeats exactly the draws of an uninterrupted one.
/// </summary>
public abstract class RewardAlgorithm(RewardFineTuningOptions options, RewardObjective objective, int runSeed)
{
    public RewardFineTuningOptions Options { get; } = options;
    public RewardObjective Objective { get; } = objective;
    public int RunSeed { get; } = runSeed;

    /// <summary>The x_T seeds of the items of pass (step, micro).</summary>
    public long[] Seeds(long step, int micro, int batch) =>
        Enumerable.Range(0, batch).Select(i => (long)(Seeding.Derive(RunSeed, 7001, step, micro, i) & 0x7FFF_FFFF_FFFF_FFFFUL)).ToArray();

    /// <summary>The pass (step, micro) for a generator with <paramref name="samplingSteps"/> steps; the loss is divided by
    /// <paramref name="lossDivisor"/> (gradient accumulation).</summary>
    public abstract AlgorithmPass Pass(long step, int micro, int samplingSteps, double lossDivisor);

    /// <summary>The prompts of the items of pass (step, micro): the options' prompts in turn over the run's images.</summary>
    public IReadOnlyList<string> Prompts(long step, int micro)
    {
        var first = (step * Options.GradientAccumulation + micro) * Options.BatchSize;
        return Enumerable.Range(0, Options.BatchSize).Select(i => Options.PromptAt(first + i)).ToList();
    }

    protected DifferentiableSampling BaseRequest(long step, int micro) => new()
    {
        Prompts = Prompts(step, micro),
        Seeds = Seeds(step, micro, Options.BatchSize),
        RecomputeSteps = Options.RecomputeSteps,
        BasePenaltyWeight = Options.BasePenalty,
    };

    public static RewardAlgorithm Create(RewardFineTuningOptions options, RewardObjective objective, int runSeed) => options switch
    {
        DraftOptions d => new DraftAlgorithm(d, objective, runSeed),
        DraftLvOptions lv => new DraftLvAlgorithm(lv, objective, runSeed),
        ReflOptions r => new ReflAlgorithm(r, objective, runSeed),
        _ => throw new ArgumentException($"Unknown fine-tuning options {options.GetType().Name}."),
    };
}

/// <summary>DRaFT-K: gradient through the last K steps; loss = -mean(reward).</summary>
public sealed class DraftAlgorithm(DraftOptions options, RewardObjective objective, int runSeed) : RewardAlgorithm(options, objective, runSeed)
{
    public override AlgorithmPass Pass(long step, int micro, int samplingSteps, double lossDivisor)
    {
        if (options.GradientSteps > samplingSteps)
            throw new ArgumentException($"gradient_steps ({options.GradientSteps}) exceeds the generator's {samplingSteps} sampling steps.");
        var request = BaseRequest(step, micro) with { GradientSteps = options.GradientSteps };
        return new AlgorithmPass(request, images => Divide(Objective.DraftLoss(images, request.Prompts), lossDivisor), $"DRaFT-{options.GradientSteps}");
    }

    internal static Tensor Divide(Tensor loss, double divisor)
    {
        if (divisor == 1.0) return loss;
        using (loss) return loss / divisor;
    }
}

/// <summary>DRaFT-LV: K = 1, n noise draws of the last step, loss = -mean(reward) averaged over the draws.</summary>
public sealed class DraftLvAlgorithm(DraftLvOptions options, RewardObjective objective, int runSeed) : RewardAlgorithm(options, objective, runSeed)
{
    public override AlgorithmPass Pass(long step, int micro, int samplingSteps, double lossDivisor)
    {
        var seed = RunSeed;
        var request = BaseRequest(step, micro) with
        {
            GradientSteps = 1,
            LastStepDraws = options.Draws,
            LastStepNoise = (draw, shape) =>
            {
                using var generator = Seeding.Torch(seed, 7002, step, micro, draw);
                return randn(shape, generator: generator);
            },
        };
        return new AlgorithmPass(request, images => DraftAlgorithm.Divide(Objective.DraftLoss(images, request.Prompts), lossDivisor), $"DRaFT-LV (n = {options.Draws})");
    }
}

/// <summary>ReFL: a random stop step in the configured range, one-step x0 prediction, loss = mean(relu(margin - reward)) x scale.</summary>
public sealed class ReflAlgorithm(ReflOptions options, RewardObjective objective, int runSeed) : RewardAlgorithm(options, objective, runSeed)
{
    /// <summary>The stop-step range for a schedule of <paramref name="samplingSteps"/> steps.</summary>
    public (int Min, int Max) StopRange(int samplingSteps)
    {
        var max = options.StopStepMax ?? samplingSteps - 1;
        var min = options.StopStepMin ?? Math.Min(max, (int)Math.Round(0.75 * samplingSteps));
        if (max >= samplingSteps || min < 0 || min > max)
            throw new ArgumentException($"The stop-step range [{min}, {max}] does not fit the generator's {samplingSteps}-step schedule (indices 0..{samplingSteps - 1}).");
        return (min, max);
    }

    public int StopStep(long step, int micro, int samplingSteps)
    {
        var (min, max) = StopRange(samplingSteps);
        return Seeding.Random(RunSeed, 7003, step, micro).Next(min, max + 1);
    }

    public override AlgorithmPass Pass(long step, int micro, int samplingSteps, double lossDivisor)
    {
        var stop = StopStep(step, micro, samplingSteps);
        var request = BaseRequest(step, micro) with { StopStep = stop };
        return new AlgorithmPass(request,
            images => DraftAlgorithm.Divide(Objective.ReflLoss(images, options.Margin, options.LossScale, request.Prompts), lossDivisor), $"ReFL (stop step {stop})");
    }
}
