namespace BiasBench.Schedulers;

/// <summary>
/// The sigma helpers shared by diffusers' sigma-based schedulers (Euler, Euler ancestral, DPM-Solver): training sigmas
/// sqrt((1 - acp) / acp), Karras / exponential / Lu sigma spacings and <c>_sigma_to_t</c>, with diffusers' mixture of
/// float32 (torch and NumPy float32 arrays) and float64 (NumPy) arithmetic.
/// </summary>
internal static class SigmaSchedules
{
    /// <summary>sqrt((1 - acp) / acp) per training timestep, float32 (ascending in t).</summary>
    public static float[] TrainSigmas(IReadOnlyList<float> alphasCumprod) =>
        alphasCumprod.Select(a => MathF.Sqrt((1f - a) / a)).ToArray();

    /// <summary><c>np.log</c> of the float32 training sigmas (a float32 array).</summary>
    public static float[] LogSigmas(IReadOnlyList<float> sigmas) => sigmas.Select(s => (float)Math.Log(s)).ToArray();

    /// <summary>Karras et al. (2022) spacing: (max^(1/rho) + ramp (min^(1/rho) - max^(1/rho)))^rho, rho = 7.</summary>
    public static double[] Karras(double sigmaMin, double sigmaMax, int count)
    {
        const double rho = 7.0;
        var ramp = NumPyCompat.Linspace(0, 1, count);
        var minInvRho = Math.Pow(sigmaMin, 1 / rho);
        var maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        return ramp.Select(r => Math.Pow(maxInvRho + r * (minInvRho - maxInvRho), rho)).ToArray();
    }

    /// <summary>exp(linspace(log max, log min, count)).</summary>
    public static double[] Exponential(double sigmaMin, double sigmaMax, int count) =>
        NumPyCompat.Linspace(Math.Log(sigmaMax), Math.Log(sigmaMin), count).Select(Math.Exp).ToArray();

    /// <summary>diffusers' <c>_sigma_to_t</c>: the fractional training timestep whose log-sigma interpolates to
    /// log(<paramref name="sigma"/>).</summary>
    public static double SigmaToT(double sigma, IReadOnlyList<float> logSigmas)
    {
        var logSigma = Math.Log(Math.Max(sigma, 1e-10));
        // low_idx = argmax(cumsum(log_sigma - log_sigmas >= 0)), clipped to len - 2.
        int count = 0, best = 0, lowIdx = 0;
        for (var i = 0; i < logSigmas.Count; i++)
        {
            if (logSigma - logSigmas[i] >= 0) count++;
            if (count > best) { best = count; lowIdx = i; }
        }
        lowIdx = Math.Min(lowIdx, logSigmas.Count - 2);
        var highIdx = lowIdx + 1;
        float low = logSigmas[lowIdx], high = logSigmas[highIdx];
        var denominator = low - high; // float32 - float32 stays float32 in NumPy
        var w = Math.Clamp((low - logSigma) / denominator, 0, 1);
        return (1 - w) * lowIdx + w * highIdx;
    }
}
