namespace BiasBench.Statistics;

/// <summary>A correlation coefficient with its two-sided p-value (t distribution, <see cref="Df"/> degrees of freedom).</summary>
public sealed record CorrelationResult(double R, double P, int N)
{
    /// <summary>Degrees of freedom of the t test: N - 2.</summary>
    public int Df => N - 2;
}

/// <summary>Partial correlation of x and y given <see cref="CovariateCount"/> covariates; Df = N - 2 - CovariateCount.</summary>
public sealed record PartialCorrelationResult(double R, double P, int N, int CovariateCount)
{
    public int Df => N - 2 - CovariateCount;
}

/// <summary>Correlation inside one stratum; <see cref="Result"/> is null and <see cref="Reason"/> says why when it is undefined.</summary>
public sealed record StratumCorrelation(double Stratum, int N, CorrelationResult? Result, string? Reason);

public enum CorrelationMethod
{
    Pearson,
    Spearman,
}

/// <summary>Pearson (point-biserial for 0/1 columns), Spearman, partial and stratified correlations (scipy/pingouin semantics).</summary>
public static class Correlation
{
    /// <summary>Pearson r with the two-sided p-value of scipy.stats.pearsonr.</summary>
    public static CorrelationResult Pearson(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Check(x, y);
        double r = PearsonR(x, y);
        return new CorrelationResult(r, Distributions.CorrelationTwoSided(r, x.Length - 2), x.Length);
    }

    /// <summary>Spearman rho (average ranks for ties) with the t-approximation p-value of scipy.stats.spearmanr.</summary>
    public static CorrelationResult Spearman(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Check(x, y);
        double r = PearsonR(Ranking.AverageRanks(x), Ranking.AverageRanks(y), "rank(x)", "rank(y)");
        return new CorrelationResult(r, Distributions.CorrelationTwoSided(r, x.Length - 2), x.Length);
    }

    public static CorrelationResult Compute(CorrelationMethod method, ReadOnlySpan<double> x, ReadOnlySpan<double> y)
        => method == CorrelationMethod.Spearman ? Spearman(x, y) : Pearson(x, y);

    /// <summary>
    /// Partial correlation of x and y controlling for <paramref name="covariates"/> (columns): the Pearson correlation
    /// of the OLS residuals of x and y on [1, covariates], tested with t on N - 2 - k degrees of freedom (pingouin.partial_corr).
    /// </summary>
    public static PartialCorrelationResult Partial(double[] x, double[] y, IReadOnlyList<double[]> covariates,
        IReadOnlyList<string>? covariateNames = null)
    {
        Validation.NotNull(x, nameof(x));
        Validation.NotNull(y, nameof(y));
        Validation.NotNull(covariates, nameof(covariates));
        Check(x, y);
        int n = x.Length, k = covariates.Count;
        for (int j = 0; j < k; j++) Validation.SameLength(n, covariates[j].Length, covariateNames?[j] ?? $"covariate {j}");
        if (n - 2 - k < 1)
            throw new DegenerateDataException($"Partial correlation with {k} covariates needs more than {k + 2} observations, got {n}.");
        if (k == 0)
        {
            var plain = Pearson(x, y);
            return new PartialCorrelationResult(plain.R, plain.P, n, 0);
        }
        var design = OlsDesign.Create(covariates, covariateNames);
        double[] rx = design.Residuals(x), ry = design.Residuals(y);
        double r = PearsonR(rx, ry, "x residualised on the covariates", "y residualised on the covariates");
        return new PartialCorrelationResult(r, Distributions.CorrelationTwoSided(r, n - 2 - k), n, k);
    }

    /// <summary>
    /// Correlation of x and y within each stratum (distinct value of <paramref name="strata"/>, ascending).
    /// Strata where it is undefined (n &lt; 3, a constant column) carry a reason instead of a result.
    /// </summary>
    public static IReadOnlyList<StratumCorrelation> Stratified(double[] x, double[] y, double[] strata,
        CorrelationMethod method = CorrelationMethod.Pearson)
    {
        Validation.NotNull(strata, nameof(strata));
        Validation.SameLength(x.Length, y.Length, nameof(y));
        Validation.SameLength(x.Length, strata.Length, nameof(strata));
        Validation.Finite(strata, nameof(strata));
        var results = new List<StratumCorrelation>();
        foreach (double level in strata.Distinct().OrderBy(v => v))
        {
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < strata.Length; i++)
                if (strata[i] == level) { xs.Add(x[i]); ys.Add(y[i]); }
            try
            {
                results.Add(new StratumCorrelation(level, xs.Count, Compute(method, xs.ToArray(), ys.ToArray()), null));
            }
            catch (DegenerateDataException e)
            {
                results.Add(new StratumCorrelation(level, xs.Count, null, e.Message));
            }
        }
        return results;
    }

    internal static void Check(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Validation.SameLength(x.Length, y.Length, "y");
        Validation.MinCount(x.Length, 3, "A correlation test");
        Validation.Finite(x, "x");
        Validation.Finite(y, "y");
    }

    /// <summary>Pearson r by the two-pass (centered) formula; throws when either column is constant.</summary>
    internal static double PearsonR(ReadOnlySpan<double> x, ReadOnlySpan<double> y, string xName = "x", string yName = "y")
    {
        double mx = Kernels.Sum(x) / x.Length, my = Kernels.Sum(y) / y.Length;
        Kernels.CenteredMoments(x, mx, y, my, out double sxy, out double sxx, out double syy);
        // Relative threshold: variance that is pure rounding noise around a constant counts as zero.
        if (!(sxx > 1e-24 * Math.Max(1.0, mx * mx) * x.Length))
            throw new DegenerateDataException($"Correlation is undefined: '{xName}' is constant (zero variance).", new[] { xName });
        if (!(syy > 1e-24 * Math.Max(1.0, my * my) * y.Length))
            throw new DegenerateDataException($"Correlation is undefined: '{yName}' is constant (zero variance).", new[] { yName });
        double r = sxy / Math.Sqrt(sxx) / Math.Sqrt(syy);
        return Math.Clamp(r, -1.0, 1.0);
    }
}
