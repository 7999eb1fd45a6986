using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// The training noise schedule: betas, alphas = 1 - betas and their cumulative product, as float32 values computed with
/// the same torch operations diffusers uses (so they are bit-identical). Read from <c>num_train_timesteps</c>,
/// <c>beta_start</c>, <c>beta_end</c>, <c>beta_schedule</c>, <c>trained_betas</c> and <c>rescale_betas_zero_snr</c>.
/// </summary>
public sealed class BetaSchedule
{
    /// <summary>Beta schedules every scheduler here understands.</summary>
    internal static readonly string[] CommonSchedules = ["linear", "scaled_linear", "squaredcos_cap_v2"];

    private BetaSchedule(string kind, float[] betas, float[] alphasCumprod)
    {
        Kind = kind;
        Betas = betas;
        AlphasCumprod = alphasCumprod;
    }

    /// <summary><c>beta_schedule</c> (or <c>trained_betas</c>).</summary>
    public string Kind { get; }

    public int NumTrainTimesteps => Betas.Count;

    public IReadOnlyList<float> Betas { get; }

    /// <summary>alphas_cumprod[t] = prod_{s &lt;= t} (1 - beta_s), float32 as torch computes it.</summary>
    public IReadOnlyList<float> AlphasCumprod { get; }

    /// <summary>Reads the beta fields of <paramref name="config"/> with diffusers' defaults (1000 steps, linear
    /// 0.0001..0.02).</summary>
    /// <param name="supportedSchedules">The <c>beta_schedule</c> values the target scheduler accepts.</param>
    /// <param name="readsRescale">Whether the target scheduler has <c>rescale_betas_zero_snr</c>.</param>
    /// <param name="zeroSnrTerminalAlphaCumprod">Euler/DPM-style schedulers set the last alphas_cumprod to 2^-24 after
    /// rescaling so that sigma stays finite.</param>
    internal static BetaSchedule FromConfig(SchedulerConfig config, IReadOnlyList<string> supportedSchedules, bool readsRescale,
        bool zeroSnrTerminalAlphaCumprod)
    {
        var steps = config.GetInt("num_train_timesteps", 1000);
        if (steps < 1) throw config.Error("num_train_timesteps", $"must be at least 1 (got {steps}).");
        var betaStart = config.GetDouble("beta_start", 0.0001);
        var betaEnd = config.GetDouble("beta_end", 0.02);
        var trained = config.GetDoubleArray("trained_betas");
        var kind = config.GetString("beta_schedule", "linear") ?? "linear";
        var rescale = readsRescale && config.GetBool("rescale_betas_zero_snr", false);

        using var scope = NewDisposeScope();
        Tensor betas;
        if (trained is not null)
        {
            if (trained.Length == 0) throw config.Error("trained_betas", "must not be empty.");
            betas = tensor(trained.Select(b => (float)b).ToArray());
            kind = "trained_betas";
        }
        else
        {
            if (!supportedSchedules.Contains(kind))
                throw config.Error("beta_schedule", $"'{kind}' is not supported (supported: {string.Join(", ", supportedSchedules)}).");
            betas = kind switch
            {
                "linear" => linspace(betaStart, betaEnd, steps, dtype: ScalarType.Float32),
                "scaled_linear" => linspace(Math.Pow(betaStart, 0.5), Math.Pow(betaEnd, 0.5), steps, dtype: ScalarType.Float32).pow(2),
                "squaredcos_cap_v2" => tensor(BetasForAlphaBar(steps, CosineAlphaBar)),
                "laplace" => tensor(BetasForAlphaBar(steps, LaplaceAlphaBar)),
                "sigmoid" => sigmoid(linspace(-6, 6, steps, dtype: ScalarType.Float32)) * (betaEnd - betaStart) + betaStart,
                _ => throw config.Error("beta_schedule", $"'{kind}' is not supported."),
            };
        }
        if (rescale) betas = RescaleZeroTerminalSnr(betas);
        var alphasCumprod = cumprod(1.0 - betas, 0);
        var betaValues = betas.data<float>().ToArray();
        var acp = alphasCumprod.data<float>().ToArray();
        if (rescale && zeroSnrTerminalAlphaCumprod) acp[^1] = MathF.Pow(2, -24);
        return new BetaSchedule(kind, betaValues, acp);
    }

    /// <summary>diffusers' <c>betas_for_alpha_bar</c> (float64 arithmetic, then float32).</summary>
    private static float[] BetasForAlphaBar(int steps, Func<double, double> alphaBar, double maxBeta = 0.999)
    {
        var betas = new float[steps];
        for (var i = 0; i < steps; i++)
        {
            var t1 = (double)i / steps;
            var t2 = (double)(i + 1) / steps;
            betas[i] = (float)Math.Min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
        }
        return betas;
    }

    private static double CosineAlphaBar(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);

    private static double LaplaceAlphaBar(double t)
    {
        var lmb = -0.5 * Math.CopySign(1, 0.5 - t) * Math.Log(1 - 2 * Math.Abs(0.5 - t) + 1e-6);
        var snr = Math.Exp(lmb);
        return Math.Sqrt(snr / (1 + snr));
    }

    /// <summary>diffusers' <c>rescale_zero_terminal_snr</c> (arXiv 2305.08891, Algorithm 1), same torch operations.</summary>
    private static Tensor RescaleZeroTerminalSnr(Tensor betas)
    {
        var alphasBarSqrt = cumprod(1.0 - betas, 0).sqrt();
        var first = alphasBarSqrt[0].clone();
        var last = alphasBarSqrt[-1].clone();
        alphasBarSqrt = (alphasBarSqrt - last) * (first / (first - last));
        var alphasBar = alphasBarSqrt.pow(2);
        var alphas = cat([alphasBar[..1], alphasBar[1..] / alphasBar[..^1]], 0);
        return 1 - alphas;
    }
}
