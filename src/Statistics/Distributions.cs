using MathNet.Numerics;
using MathNet.Numerics.Distributions;

namespace BiasBench.Statistics;

/// <summary>
/// Tail probabilities computed directly from MathNet's regularized special functions, so that tiny
/// p-values (1e-200) keep their relative precision instead of being lost in 1 - cdf.
/// </summary>
public static class Distributions
{
    /// <summary>Upper tail P(T &gt; t) of Student's t with <paramref name="df"/> degrees of freedom.</summary>
    public static double StudentTSurvival(double t, double df)
    {
        RequireFinite(t, nameof(t));
        RequirePositive(df, nameof(df));
        double half = 0.5 * StudentTTwoSided(t, df);
        return t >= 0 ? half : 1.0 - half;
    }

    /// <summary>Two-sided p-value P(|T| &gt;= |t|) of Student's t.</summary>
    public static double StudentTTwoSided(double t, double df)
    {
        RequireFinite(t, nameof(t));
        RequirePositive(df, nameof(df));
        double t2 = t * t;
        if (double.IsInfinity(t2)) return 0.0;
        // P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2). Never via 1 - I: MathNet picks the accurate side of the
        // continued fraction itself, and a complement would flush p-values below 1e-16 to zero.
        return SpecialFunctions.BetaRegularized(0.5 * df, 0.5, df / (df + t2));
    }

    /// <summary>
    /// Two-sided p-value of a correlation coefficient r under H0: rho = 0 with <paramref name="df"/> = n - 2
    /// (or n - 2 - k for a partial correlation); identical to the t test with t = r sqrt(df / (1 - r^2)),
    /// but computed from 1 - r^2 = (1 - r)(1 + r) without forming t.
    /// </summary>
    public static double CorrelationTwoSided(double r, double df)
    {
        RequireFinite(r, nameof(r));
        RequirePositive(df, nameof(df));
        double a = Math.Abs(r);
        if (a >= 1.0) return 0.0;
        return SpecialFunctions.BetaRegularized(0.5 * df, 0.5, (1.0 - a) * (1.0 + a));
    }

    /// <summary>Upper tail P(Z &gt; z) of the standard normal, via erfc (accurate far into the tail).</summary>
    public static double NormalSurvival(double z)
    {
        RequireFinite(z, nameof(z));
        return 0.5 * SpecialFunctions.Erfc(z / Math.Sqrt(2.0));
    }

    /// <summary>Two-sided p-value P(|Z| &gt;= |z|) of the standard normal.</summary>
    public static double NormalTwoSided(double z)
    {
        RequireFinite(z, nameof(z));
        return SpecialFunctions.Erfc(Math.Abs(z) / Math.Sqrt(2.0));
    }

    /// <summary>Standard normal quantile.</summary>
    public static double NormalQuantile(double p)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "Probability must lie in (0, 1).");
        return Normal.InvCDF(0.0, 1.0, p);
    }

    /// <summary>Upper tail P(X &gt; x) of the chi-square distribution with <paramref name="df"/> degrees of freedom.</summary>
    public static double ChiSquaredSurvival(double x, double df)
    {
        RequireFinite(x, nameof(x));
        RequirePositive(df, nameof(df));
        if (x <= 0) return 1.0;
        return SpecialFunctions.GammaUpperRegularized(0.5 * df, 0.5 * x);
    }

    /// <summary>Upper tail P(F &gt; f) of the F distribution (Fisher-Snedecor) with (d1, d2) degrees of freedom.</summary>
    public static double FSurvival(double f, double d1, double d2)
    {
        RequireFinite(f, nameof(f));
        RequirePositive(d1, nameof(d1));
        RequirePositive(d2, nameof(d2));
        if (f <= 0) return 1.0;
        double denom = d2 + d1 * f;
        return SpecialFunctions.BetaRegularized(0.5 * d2, 0.5 * d1, d2 / denom); // P(F > f) = I_{d2/(d2+d1 f)}(d2/2, d1/2)
    }

    private static void RequireFinite(double value, string name)
    {
        if (double.IsNaN(value))
            throw new DegenerateDataException($"Test statistic '{name}' is NaN; the data are degenerate.");
    }

    private static void RequirePositive(double value, string name)
    {
        if (!(value > 0)) throw new DegenerateDataException($"Degrees of freedom '{name}' = {value} must be positive (too few observations).");
    }
}
