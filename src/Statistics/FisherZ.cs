namespace BiasBench.Statistics;

/// <summary>Fisher z test that two correlations from independent samples are equal.</summary>
/// <param name="Z">(atanh r_a - atanh r_b) / sqrt(1/(n_a - 3 - k) + 1/(n_b - 3 - k)).</param>
/// <param name="P">Two-sided normal p-value of <paramref name="Z"/>.</param>
public sealed record CorrelationDifferenceTest(double Z, double P);

/// <summary>
/// Chi-square test that k correlations from independent samples are all equal (Hedges and Olkin 1985):
/// Q = sum_i (n_i - 3)(z_i - z_w)^2 on k - 1 degrees of freedom, with z_i = atanh r_i and z_w their (n_i - 3)-weighted mean.
/// </summary>
/// <param name="PooledR">tanh(z_w): the common correlation under the null hypothesis.</param>
public sealed record CorrelationHomogeneityTest(double ChiSquare, int Df, double P, double PooledR);

/// <summary>
/// Fisher's z = atanh(r) for correlations: intervals (scipy's pearsonr(...).confidence_interval() and
/// expected_effects.json), and tests comparing correlations from independent groups.
/// </summary>
public static class FisherZ
{
    /// <summary>
    /// Interval tanh(atanh r -/+ q / sqrt(n - 3 - k)) of a Pearson (k = 0) or partial (k covariates) correlation, with q the
    /// normal quantile of <paramref name="confidence"/>. (NaN, NaN) when r is NaN or n - 3 - k &lt; 1 (callers note why);
    /// r = +-1 is pulled in by 1e-15 so that the interval stays finite.
    /// </summary>
    public static (double Lower, double Upper) Interval(double r, int n, int covariates, double confidence) =>
        ScaledInterval(r, n - 3 - covariates, 1.0, confidence);

    /// <summary>
    /// Interval of a Spearman correlation on Fisher's z scale with Bonett and Wright's (2000) variance (1 + rho^2 / 2) / (n - 3),
    /// which keeps close to nominal coverage where the Pearson variance 1 / (n - 3) is too small for ranks.
    /// </summary>
    public static (double Lower, double Upper) SpearmanInterval(double rho, int n, double confidence) =>
        double.IsNaN(rho) ? (double.NaN, double.NaN) : ScaledInterval(rho, n - 3, 1.0 + rho * rho / 2.0, confidence);

    /// <summary>atanh(r); a correlation of exactly +-1 has no finite z.</summary>
    public static double Transform(double r)
    {
        if (double.IsNaN(r) || !(Math.Abs(r) < 1.0))
            throw new DegenerateDataException($"Fisher's z is undefined for r = {r}: the correlation must lie strictly between -1 and 1.");
        return Math.Atanh(r);
    }

    /// <summary>Tests r_a = r_b for correlations of independent samples of sizes n_a and n_b (k covariates partialled out of each).</summary>
    public static CorrelationDifferenceTest CompareIndependent(double ra, int na, double rb, int nb, int covariates = 0)
    {
        RequireSize(na, covariates, "first");
        RequireSize(nb, covariates, "second");
        double z = (Transform(ra) - Transform(rb)) / Math.Sqrt(1.0 / (na - 3 - covariates) + 1.0 / (nb - 3 - covariates));
        return new CorrelationDifferenceTest(z, Distributions.NormalTwoSided(z));
    }

    /// <summary>Tests that the correlations <paramref name="r"/> of independent samples of sizes <paramref name="n"/> are all equal.</summary>
    public static CorrelationHomogeneityTest Homogeneity(IReadOnlyList<double> r, IReadOnlyList<int> n)
    {
        Validation.NotNull(r, nameof(r));
        Validation.NotNull(n, nameof(n));
        Validation.SameLength(r.Count, n.Count, nameof(n));
        if (r.Count < 2) throw new DegenerateDataException($"A homogeneity test needs at least 2 correlations, got {r.Count}.");
        var z = new double[r.Count];
        double weightSum = 0, weighted = 0;
        for (int i = 0; i < r.Count; i++)
        {
            RequireSize(n[i], 0, $"sample {i + 1}");
            z[i] = Transform(r[i]);
            weightSum += n[i] - 3;
            weighted += (n[i] - 3) * z[i];
        }
        double mean = weighted / weightSum;
        double q = 0;
        for (int i = 0; i < r.Count; i++) q += (n[i] - 3) * (z[i] - mean) * (z[i] - mean);
        int df = r.Count - 1;
        return new CorrelationHomogeneityTest(q, df, Distributions.ChiSquaredSurvival(q, df), Math.Tanh(mean));
    }

    private static (double Lower, double Upper) ScaledInterval(double r, int df, double varianceFactor, double confidence)
    {
        if (!(confidence > 0 && confidence < 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Confidence must lie in (0, 1).");
        if (double.IsNaN(r) || df < 1) return (double.NaN, double.NaN);
        double z = Math.Atanh(Math.Clamp(r, -1 + 1e-15, 1 - 1e-15));
        double half = Distributions.NormalQuantile(1 - (1 - confidence) / 2) * Math.Sqrt(varianceFactor / df);
        return (Math.Tanh(z - half), Math.Tanh(z + half));
    }

    private static void RequireSize(int n, int covariates, string which)
    {
        if (n - 3 - covariates < 1)
            throw new DegenerateDataException($"The {which} correlation rests on {n} observation(s); Fisher's z needs more than {3 + covariates}.");
    }
}
