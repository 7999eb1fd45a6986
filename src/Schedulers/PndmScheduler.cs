using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// diffusers' <c>PNDMScheduler</c> (arXiv 2202.09778): Runge-Kutta warm-up (PRK) then linear multistep (PLMS), or PLMS
/// alone with <c>skip_prk_steps</c> (Stable Diffusion 1.x's default scheduler). Config fields: the beta fields,
/// <c>skip_prk_steps</c> (default false), <c>set_alpha_to_one</c> (default false), <c>prediction_type</c> (epsilon,
/// v_prediction), <c>timestep_spacing</c>, <c>steps_offset</c>. Deterministic; carries its past model outputs in a
/// <see cref="PndmState"/>. The schedule has more entries than inference steps (PLMS repeats one timestep, PRK visits
/// half steps), exactly as diffusers' <c>scheduler.timesteps</c>.
/// </summary>
public sealed class PndmScheduler : DiffusionScheduler
{
    public const string DiffusersClassName = "PNDMScheduler";

    private const int PndmOrder = 4;
    private readonly float finalAlphaCumprod;

    public PndmScheduler(SchedulerConfig config, SchedulerSettings? settings = null)
        : base(config,
            BetaSchedule.FromConfig(config, BetaSchedule.CommonSchedules, readsRescale: false, zeroSnrTerminalAlphaCumprod: false),
            ReadPredictionType(config, "epsilon", "v_prediction"))
    {
        RejectEta(config, settings, DiffusersClassName);
        SkipPrkSteps = config.GetBool("skip_prk_steps", false);
        SetAlphaToOne = config.GetBool("set_alpha_to_one", false);
        StepsOffset = config.GetInt("steps_offset", 0);
        Spacing = ReadSpacing(config, "leading");
        finalAlphaCumprod = SetAlphaToOne ? 1f : AlphasCumprod[0];
    }

    public override string ClassName => DiffusersClassName;

    public bool SkipPrkSteps { get; }

    public bool SetAlphaToOne { get; }

    public int StepsOffset { get; }

    public TimestepSpacing Spacing { get; }

    /// <summary>Number of PRK warm-up entries at the start of a schedule (0 with skip_prk_steps).</summary>
    public int PrkStepCount => SkipPrkSteps ? 0 : 3 * PndmOrder;

    public override DiffusionSchedule Schedule(int numInferenceSteps)
    {
        CheckNumInferenceSteps(numInferenceSteps);
        var n = NumTrainTimesteps;
        // diffusers' _timesteps, ascending.
        double[] ascending = Spacing switch
        {
            TimestepSpacing.Linspace => NumPyCompat.Linspace(0, n - 1, numInferenceSteps).Select(NumPyCompat.Round).ToArray(),
            TimestepSpacing.Leading => Enumerable.Range(0, numInferenceSteps).Select(i => (double)(i * (n / numInferenceSteps) + StepsOffset)).ToArray(),
            _ => NumPyCompat.Arange(n, 0, -(double)n / numInferenceSteps).Select(NumPyCompat.Round).Reverse().Select(t => t - 1).ToArray(),
        };
        List<double> timesteps;
        if (SkipPrkSteps)
        {
            // PLMS: [..., t_{n-2}, t_{n-2}, t_{n-1}] reversed: the second-to-last timestep is visited twice.
            if (ascending.Length < 2)
                throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, "PNDM (PLMS) needs at least 2 inference steps.");
            timesteps = [.. ascending[..^1], ascending[^2], ascending[^1]];
            timesteps.Reverse();
        }
        else
        {
            if (ascending.Length < PndmOrder)
                throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, $"PNDM with PRK warm-up needs at least {PndmOrder} inference steps.");
            var half = n / numInferenceSteps / 2;
            var prk = ascending[^PndmOrder..].SelectMany(t => new[] { t, t + half }).ToArray();
            // prk[:-1].repeat(2)[1:-1][::-1]
            var repeated = prk[..^1].SelectMany(t => new[] { t, t }).ToArray()[1..^1];
            timesteps = [.. repeated.Reverse(), .. ascending[..^3].Reverse()];
        }
        var result = timesteps.ToArray();
        CheckTimesteps(result, Spacing, numInferenceSteps);
        return new DiffusionSchedule(this, numInferenceSteps, result, ScalarType.Int64, sigmas: null, initNoiseSigma: 1.0);
    }

    public override SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        var previous = CheckState<PndmState>(state, stepIndex);
        var counter = previous?.Counter ?? 0;
        var ets = previous?.Ets ?? [];
        var curSample = previous?.CurSample;
        var curModelOutput = previous?.CurModelOutput;
        var timestep = (int)schedule.Timesteps[stepIndex];
        var ratio = NumTrainTimesteps / schedule.NumInferenceSteps;

        using var scope = NewDisposeScope();
        Tensor prev;
        PndmState next;
        if (counter < PrkStepCount)
        {
            if (stepIndex != counter)
                throw new ArgumentException($"{ClassName}'s PRK warm-up must run from step 0 (step {stepIndex} was requested with counter {counter}).", nameof(stepIndex));
            // Runge-Kutta warm-up: four model calls per step, combined 1/6, 1/3, 1/3, 1/6.
            var prevTimestep = timestep - (counter % 2 == 1 ? 0 : ratio / 2);
            // diffusers evaluates the whole RK step at prk_timesteps[counter // 4 * 4].
            timestep = (int)schedule.Timesteps[counter / 4 * 4];
            Tensor? accumulated;
            var output = modelOutput;
            var newEts = ets;
            switch (counter % 4)
            {
                case 0:
                    accumulated = Accumulate(curModelOutput, modelOutput * (1.0 / 6));
                    newEts = [.. ets, modelOutput];
                    curSample = sample;
                    break;
                case 1:
                case 2:
                    accumulated = Accumulate(curModelOutput, modelOutput * (1.0 / 3));
                    break;
                default:
                    output = Accumulate(curModelOutput, modelOutput * (1.0 / 6));
                    accumulated = null;
                    break;
            }
            prev = PrevSample(curSample ?? sample, timestep, prevTimestep, output);
            next = PndmState.Create(stepIndex + 1, counter + 1, newEts, curSample, accumulated);
        }
        else
        {
            if (!SkipPrkSteps && ets.Count < 3)
                throw new InvalidOperationException($"{ClassName} can only run PLMS steps after {PrkStepCount} PRK warm-up steps; start at step 0 with a null state.");
            var prevTimestep = timestep - ratio;
            var newEts = ets;
            if (counter != 1)
            {
                newEts = [.. ets.Skip(Math.Max(0, ets.Count - 3)), modelOutput];
            }
            else
            {
                prevTimestep = timestep;
                timestep += ratio;
            }
            var current = sample;
            Tensor output;
            var keepSample = curSample;
            if (newEts.Count == 1 && counter == 0)
            {
                output = modelOutput;
                keepSample = sample;
            }
            else if (newEts.Count == 1 && counter == 1)
            {
                output = (modelOutput + newEts[^1]) / 2;
                current = curSample ?? throw new InvalidOperationException($"{ClassName}: the state lost the first PLMS sample.");
                keepSample = null;
            }
            else if (newEts.Count == 2)
            {
                output = (newEts[^1] * 3 - newEts[^2]) / 2;
            }
            else if (newEts.Count == 3)
            {
                output = (newEts[^1] * 23 - newEts[^2] * 16 + newEts[^3] * 5) / 12;
            }
            else
            {
                output = (newEts[^1] * 55 - newEts[^2] * 59 + newEts[^3] * 37 - newEts[^4] * 9) * (1.0 / 24);
            }
            prev = PrevSample(current, timestep, prevTimestep, output);
            next = PndmState.Create(stepIndex + 1, counter + 1, newEts, keepSample, curModelOutput);
        }
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), null, next.MoveToOuterDisposeScope());
    }

    /// <summary>x_0 from the model output at this step's timestep (PNDM itself never forms it; no clipping).</summary>
    public override Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
        var alpha = AlphasCumprod[(int)schedule.Timesteps[stepIndex]];
        var (sqrtAlpha, sqrtBeta) = (MathF.Sqrt(alpha), MathF.Sqrt(1f - alpha));
        using var scope = NewDisposeScope();
        var original = PredictionType == PredictionType.VPrediction
            ? sample * sqrtAlpha - modelOutput * sqrtBeta
            : (sample - modelOutput * sqrtBeta) / sqrtAlpha;
        return original.MoveToOuterDisposeScope();
    }

    private static Tensor Accumulate(Tensor? accumulated, Tensor term) => accumulated is null ? term : accumulated + term;

    /// <summary>diffusers' <c>_get_prev_sample</c>: formula (9) of the PNDM paper.</summary>
    private Tensor PrevSample(Tensor sample, int timestep, int prevTimestep, Tensor modelOutput)
    {
        var alpha = AlphasCumprod[timestep];
        var alphaPrev = prevTimestep >= 0 ? AlphasCumprod[prevTimestep] : finalAlphaCumprod;
        var beta = 1f - alpha;
        var betaPrev = 1f - alphaPrev;
        if (PredictionType == PredictionType.VPrediction)
            modelOutput = modelOutput * MathF.Sqrt(alpha) + sample * MathF.Sqrt(beta);
        var sampleCoeff = MathF.Sqrt(alphaPrev / alpha);
        var denominator = alpha * MathF.Sqrt(betaPrev) + MathF.Sqrt(alpha * beta * alphaPrev);
        return sample * sampleCoeff - modelOutput * (alphaPrev - alpha) / denominator;
    }
}

/// <summary>PNDM's history: the step counter, the last (up to four) model outputs, the sample PLMS/PRK restart from,
/// and the PRK accumulator.</summary>
public sealed class PndmState : SchedulerState
{
    private PndmState(int nextStepIndex, int counter, IReadOnlyList<Tensor> ets, Tensor? curSample, Tensor? curModelOutput)
        : base(nextStepIndex)
    {
        Counter = counter;
        Ets = ets;
        CurSample = curSample;
        CurModelOutput = curModelOutput;
    }

    /// <summary>Steps taken so far (diffusers' <c>counter</c>).</summary>
    public int Counter { get; }

    /// <summary>Past model outputs, oldest first (diffusers' <c>ets</c>).</summary>
    public IReadOnlyList<Tensor> Ets { get; }

    /// <summary>The sample a multi-call step restarts from (diffusers' <c>cur_sample</c>).</summary>
    public Tensor? CurSample { get; }

    /// <summary>PRK's running weighted sum of model outputs (diffusers' <c>cur_model_output</c>).</summary>
    public Tensor? CurModelOutput { get; }

    public override IEnumerable<Tensor> Tensors =>
        Ets.Concat(CurSample is null ? [] : [CurSample]).Concat(CurModelOutput is null ? [] : [CurModelOutput]);

    /// <summary>Builds a state holding fresh aliases of the given tensors (never the caller's handles).</summary>
    internal static PndmState Create(int nextStepIndex, int counter, IReadOnlyList<Tensor> ets, Tensor? curSample, Tensor? curModelOutput) =>
        new(nextStepIndex, counter, ets.Select(t => t.alias()).ToArray(), curSample?.alias(), curModelOutput?.alias());
}
