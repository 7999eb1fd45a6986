using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// diffusers' <c>DPMSolverMultistepScheduler</c> with <c>algorithm_type: dpmsolver++</c> (DPM-Solver++(2M), arXiv
/// 2211.01095). Config fields: the beta fields, <c>solver_order</c> (1 or 2), <c>prediction_type</c> (epsilon,
/// v_prediction, sample), <c>solver_type</c> (midpoint, heun), <c>lower_order_final</c>, <c>euler_at_final</c>,
/// <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c>, <c>use_lu_lambdas</c>, <c>final_sigmas_type</c> (zero,
/// sigma_min), <c>lambda_min_clipped</c>, <c>variance_type</c> (null, learned, learned_range: the extra output channels
/// are dropped), <c>timestep_spacing</c> (default linspace), <c>steps_offset</c>, <c>rescale_betas_zero_snr</c>.
/// Refused: the sde/dpmsolver algorithm types, solver_order 3, thresholding, beta/flow sigmas, dynamic shifting.
/// Deterministic; the previous data prediction travels in a <see cref="DpmSolverState"/>.
/// </summary>
public sealed class DpmSolverMultistepScheduler : DiffusionScheduler
{
    public const string DiffusersClassName = "DPMSolverMultistepScheduler";

    private readonly float[] trainSigmas;
    private readonly float[] logSigmas;

    public DpmSolverMultistepScheduler(SchedulerConfig config, SchedulerSettings? settings = null)
        : base(config,
            BetaSchedule.FromConfig(config, BetaSchedule.CommonSchedules, readsRescale: true, zeroSnrTerminalAlphaCumprod: true),
            ReadPredictionType(config, "epsilon", "v_prediction", "sample"))
    {
        RejectEta(config, settings, DiffusersClassName);
        // diffusers maps the legacy "deis" algorithm to dpmsolver++ and "logrho"/"bh1"/"bh2" solver types to midpoint.
        var algorithm = config.GetString("algorithm_type", "dpmsolver++");
        if (algorithm is not ("dpmsolver++" or "deis"))
            throw config.Error("algorithm_type", $"'{algorithm}' is not supported (supported: dpmsolver++).");
        var solver = config.GetString("solver_type", "midpoint");
        HeunSolver = solver switch
        {
            "midpoint" or "logrho" or "bh1" or "bh2" => false,
            "heun" => true,
            _ => throw config.Error("solver_type", $"'{solver}' is not supported (supported: midpoint, heun)."),
        };
        SolverOrder = config.GetInt("solver_order", 2);
        if (SolverOrder is not (1 or 2))
            throw config.Error("solver_order", $"{SolverOrder} is not supported (supported: 1, 2).");
        RejectIfTrue(config, "thresholding", "dynamic thresholding is not implemented");
        RejectIfTrue(config, "use_beta_sigmas", "beta-distributed sigmas need scipy's beta.ppf and are not implemented");
        RejectIfTrue(config, "use_flow_sigmas", "flow-matching sigmas are not implemented");
        RejectIfTrue(config, "use_dynamic_shifting", "dynamic shifting is for flow-matching models");
        LowerOrderFinal = config.GetBool("lower_order_final", true);
        EulerAtFinal = config.GetBool("euler_at_final", false);
        UseKarrasSigmas = config.GetBool("use_karras_sigmas", false);
        UseExponentialSigmas = config.GetBool("use_exponential_sigmas", false);
        UseLuLambdas = config.GetBool("use_lu_lambdas", false);
        if (UseKarrasSigmas && UseExponentialSigmas)
            throw config.Error("use_exponential_sigmas", "only one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas can be true.");
        FinalSigmaIsMin = config.GetChoice("final_sigmas_type", "zero", "zero", "sigma_min") == "sigma_min";
        LambdaMinClipped = config.GetDouble("lambda_min_clipped", double.NegativeInfinity);
        // Only learned / learned_range change anything; DDPM's fixed_* values (a swapped DDPM config) act as null.
        var variance = config.GetString("variance_type", null);
        if (variance is not (null or "learned" or "learned_range" or "fixed_small" or "fixed_small_log" or "fixed_large" or "fixed_large_log"))
            throw config.Error("variance_type", $"'{variance}' is not supported (supported: null, learned, learned_range, or a DDPM fixed_* type, which is ignored).");
        LearnedVariance = variance is "learned" or "learned_range";
        Spacing = ReadSpacing(config, "linspace");
        StepsOffset = config.GetInt("steps_offset", 0);
        trainSigmas = SigmaSchedules.TrainSigmas(AlphasCumprod);
        logSigmas = SigmaSchedules.LogSigmas(trainSigmas);
    }

    public override string ClassName => DiffusersClassName;

    public int SolverOrder { get; }

    /// <summary><c>solver_type: heun</c> (otherwise midpoint).</summary>
    public bool HeunSolver { get; }

    public bool LowerOrderFinal { get; }

    public bool EulerAtFinal { get; }

    public bool UseKarrasSigmas { get; }

    public bool UseExponentialSigmas { get; }

    public bool UseLuLambdas { get; }

    public bool FinalSigmaIsMin { get; }

    public double LambdaMinClipped { get; }

    /// <summary><c>variance_type</c> learned / learned_range: the model output carries extra variance channels.</summary>
    public bool LearnedVariance { get; }

    public TimestepSpacing Spacing { get; }

    public int StepsOffset { get; }

    public override DiffusionSchedule Schedule(int numInferenceSteps)
    {
        CheckNumInferenceSteps(numInferenceSteps);
        var n = NumTrainTimesteps;
        var lastTimestep = n - ClippedIndex();
        var timesteps = Spacing switch
        {
            TimestepSpacing.Linspace => NumPyCompat.Linspace(0, lastTimestep - 1, numInferenceSteps + 1).Select(NumPyCompat.Round).Reverse().SkipLast(1).ToArray(),
            TimestepSpacing.Leading => Enumerable.Range(0, numInferenceSteps + 1).Reverse().SkipLast(1)
                .Select(i => (double)(i * (lastTimestep / (numInferenceSteps + 1)) + StepsOffset)).ToArray(),
            _ => NumPyCompat.Arange(lastTimestep, 0, -(double)n / numInferenceSteps).Select(t => NumPyCompat.Round(t) - 1).ToArray(),
        };
        double[] sigmas;
        if (UseKarrasSigmas || UseExponentialSigmas)
        {
            // Range from the full training sigmas (flipped: max first), unlike Euler which uses the interpolated ones.
            double min = trainSigmas[0], max = trainSigmas[^1];
            sigmas = UseKarrasSigmas ? SigmaSchedules.Karras(min, max, numInferenceSteps) : SigmaSchedules.Exponential(min, max, numInferenceSteps);
            timesteps = sigmas.Select(s => SigmaSchedules.SigmaToT(s, logSigmas)).ToArray();
            if (UseKarrasSigmas && BetaSchedule.Kind != "squaredcos_cap_v2") timesteps = timesteps.Select(NumPyCompat.Round).ToArray();
        }
        else if (UseLuLambdas)
        {
            // Lu et al. (DPM-Solver++): uniform in log-sigma between the largest and smallest training sigma.
            double lambdaMax = logSigmas[^1], lambdaMin = logSigmas[0];
            sigmas = NumPyCompat.Linspace(0, 1, numInferenceSteps).Select(r => Math.Exp(lambdaMax + r * (lambdaMin - lambdaMax))).ToArray();
            timesteps = sigmas.Select(s => SigmaSchedules.SigmaToT(s, logSigmas)).ToArray();
            if (BetaSchedule.Kind != "squaredcos_cap_v2") timesteps = timesteps.Select(NumPyCompat.Round).ToArray();
        }
        else
        {
            sigmas = timesteps.Select(t => NumPyCompat.Interp(t, trainSigmas)).ToArray();
        }
        // diffusers casts the timesteps to int64 (truncating the fractional ones of exponential sigmas).
        var integerTimesteps = timesteps.Select(Math.Truncate).ToArray();
        CheckTimesteps(integerTimesteps, Spacing, numInferenceSteps);
        var last = FinalSigmaIsMin ? trainSigmas[0] : 0f;
        var allSigmas = sigmas.Select(s => (float)s).Append(last).ToArray();
        return new DiffusionSchedule(this, numInferenceSteps, integerTimesteps, ScalarType.Int64, allSigmas, initNoiseSigma: 1.0);
    }

    /// <summary>Index where lambda_t drops below lambda_min_clipped (searchsorted on the flipped lambdas; 0 for -inf).</summary>
    private int ClippedIndex()
    {
        if (double.IsNegativeInfinity(LambdaMinClipped)) return 0;
        // lambda_t = log(alpha_t) - log(sigma_t), float32, searched in ascending-t order reversed (ascending lambda).
        var lambdas = AlphasCumprod.Select(a => (float)Math.Log(MathF.Sqrt(a)) - (float)Math.Log(MathF.Sqrt(1f - a))).Reverse().ToArray();
        var count = 0;
        while (count < lambdas.Length && lambdas[count] < LambdaMinClipped) count++;
        return count;
    }

    public override SchedulerStepOutput Step(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null)
    {
        CheckSchedule(schedule, stepIndex);
        CheckModelOutput(modelOutput, sample);
        var previous = CheckState<DpmSolverState>(state, stepIndex);
        var lowerOrderNums = previous?.LowerOrderNums ?? 0;
        var count = schedule.Count;
        var lowerOrderFinal = stepIndex == count - 1 && (EulerAtFinal || (LowerOrderFinal && count < 15) || !FinalSigmaIsMin);
        // (diffusers' lower_order_second only caps third-order steps, which solver_order <= 2 never takes.)

        using var scope = NewDisposeScope();
        var x0 = ConvertModelOutput(schedule, stepIndex, modelOutput, sample);
        var x = sample.to(ScalarType.Float32);
        Tensor prev;
        if (SolverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinal || previous?.PreviousModelOutput is null)
            prev = FirstOrderUpdate(schedule, stepIndex, x0, x);
        else
            prev = SecondOrderUpdate(schedule, stepIndex, x0, previous.PreviousModelOutput, x);
        prev = prev.to(x0.dtype);
        var next = DpmSolverState.Create(stepIndex + 1, Math.Min(lowerOrderNums + 1, SolverOrder), SolverOrder > 1 ? x0 : null);
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), x0.alias().MoveToOuterDisposeScope(), next.MoveToOuterDisposeScope());
    }

    public override Tensor PredictOriginalSample(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample)
    {
        CheckSchedule(schedule, stepIndex);
        CheckModelOutput(modelOutput, sample);
        using var scope = NewDisposeScope();
        return ConvertModelOutput(schedule, stepIndex, modelOutput, sample).MoveToOuterDisposeScope();
    }

    public override Tensor AddNoise(DiffusionSchedule schedule, int stepIndex, Tensor originalSamples, Tensor noise)
    {
        CheckSchedule(schedule, stepIndex);
        CheckSameShape(noise, originalSamples, nameof(noise));
        using var scope = NewDisposeScope();
        // alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha_t, computed in the sample dtype as diffusers does.
        var sigma = tensor(schedule.Sigma(stepIndex)).to(originalSamples.dtype).to(originalSamples.device);
        var alphaT = (sigma.pow(2) + 1).pow(0.5).reciprocal();
        var sigmaT = sigma * alphaT;
        return (alphaT * originalSamples + sigmaT * noise).MoveToOuterDisposeScope();
    }

    private void CheckModelOutput(Tensor modelOutput, Tensor sample)
    {
        if (LearnedVariance && modelOutput.dim() == sample.dim() && modelOutput.dim() > 1 && modelOutput.shape[1] > sample.shape[1])
        {
            var expected = sample.shape.ToArray();
            expected[1] = modelOutput.shape[1];
            if (modelOutput.shape.SequenceEqual(expected)) return;
        }
        CheckSameShape(modelOutput, sample, nameof(modelOutput));
    }

    /// <summary>The data prediction x_0 (diffusers' <c>convert_model_output</c> for dpmsolver++).</summary>
    private Tensor ConvertModelOutput(DiffusionSchedule schedule, int stepIndex, Tensor modelOutput, Tensor sample)
    {
        if (PredictionType == PredictionType.Sample) return modelOutput.alias();
        var (alphaT, sigmaT) = AlphaSigma(schedule.Sigma(stepIndex));
        if (PredictionType == PredictionType.VPrediction) return sample * alphaT - modelOutput * sigmaT;
        // diffusers keeps the first 3 channels of a learned-variance output (its hard-coded [:, :3]).
        var epsilon = LearnedVariance && modelOutput.shape[1] != sample.shape[1] ? modelOutput.narrow(1, 0, 3) : modelOutput;
        return (sample - epsilon * sigmaT) / alphaT;
    }

    private Tensor FirstOrderUpdate(DiffusionSchedule schedule, int stepIndex, Tensor x0, Tensor sample)
    {
        var (alphaT, sigmaT) = AlphaSigma(schedule.Sigma(stepIndex + 1));
        var (alphaS, sigmaS) = AlphaSigma(schedule.Sigma(stepIndex));
        var h = Lambda(alphaT, sigmaT) - Lambda(alphaS, sigmaS);
        return sample * (sigmaT / sigmaS) - x0 * (alphaT * (MathF.Exp(-h) - 1f));
    }

    private Tensor SecondOrderUpdate(DiffusionSchedule schedule, int stepIndex, Tensor m0, Tensor m1, Tensor sample)
    {
        var (alphaT, sigmaT) = AlphaSigma(schedule.Sigma(stepIndex + 1));
        var (alphaS0, sigmaS0) = AlphaSigma(schedule.Sigma(stepIndex));
        var (alphaS1, sigmaS1) = AlphaSigma(schedule.Sigma(stepIndex - 1));
        var lambdaT = Lambda(alphaT, sigmaT);
        var lambdaS0 = Lambda(alphaS0, sigmaS0);
        var lambdaS1 = Lambda(alphaS1, sigmaS1);
        var h = lambdaT - lambdaS0;
        var h0 = lambdaS0 - lambdaS1;
        var r0 = h0 / h;
        var d1 = (m0 - m1) * (1f / r0);
        var expm1 = MathF.Exp(-h) - 1f;
        var result = sample * (sigmaT / sigmaS0) - m0 * (alphaT * expm1);
        return HeunSolver
            ? result + d1 * (alphaT * (expm1 / h + 1f))
            : result - d1 * (0.5f * (alphaT * expm1));
    }

    /// <summary>alpha_t = 1 / sqrt(sigma^2 + 1) and sigma_t = sigma alpha_t, float32 as diffusers' 0-dim tensors.</summary>
    private static (float Alpha, float Sigma) AlphaSigma(float sigma)
    {
        var alpha = 1f / MathF.Sqrt(sigma * sigma + 1f);
        return (alpha, sigma * alpha);
    }

    private static float Lambda(float alpha, float sigma) => (float)Math.Log(alpha) - (float)Math.Log(sigma);
}

/// <summary>DPM-Solver++'s history: the previous step's data prediction and how many steps of warm-up have run
/// (diffusers' <c>model_outputs</c> and <c>lower_order_nums</c>).</summary>
public sealed class DpmSolverState : SchedulerState
{
    private DpmSolverState(int nextStepIndex, int lowerOrderNums, Tensor? previousModelOutput) : base(nextStepIndex)
    {
        LowerOrderNums = lowerOrderNums;
        PreviousModelOutput = previousModelOutput;
    }

    public int LowerOrderNums { get; }

    /// <summary>The converted model output (x_0 prediction) of the previous step; null for first-order solving.</summary>
    public Tensor? PreviousModelOutput { get; }

    public override IEnumerable<Tensor> Tensors => PreviousModelOutput is null ? [] : [PreviousModelOutput];

    internal static DpmSolverState Create(int nextStepIndex, int lowerOrderNums, Tensor? previousModelOutput) =>
        new(nextStepIndex, lowerOrderNums, previousModelOutput?.alias());
}
