namespace BiasBench.Statistics;

public enum BootstrapMethod
{
    /// <summary>Quantiles of the bootstrap distribution.</summary>
    Percentile,
    /// <summary>Bias-corrected and accelerated (Efron 1987); acceleration from a (grouped) jackknife.</summary>
    Bca,
}

/// <summary>
/// A bootstrap confidence interval. <see cref="FailedResamples"/> counts resamples on which the statistic was undefined
/// (e.g. a constant column in the resample); they are excluded. BiasCorrection (z0) and Acceleration (a) are set for BCa.
/// </summary>
public sealed record BootstrapInterval(
    double Estimate,
    double Lower,
    double Upper,
    double Confidence,
    BootstrapMethod Method,
    int Resamples,
    int FailedResamples,
    int Seed,
    double? BiasCorrection,
    double? Acceleration);

/// <summary>
/// Nonparametric (row-resampling) bootstrap. Reproducible: the same seed gives the same interval regardless of the
/// number of threads, because every resample draws from its own generator seeded from a master generator.
/// </summary>
public static class Bootstrap
{
    /// <summary>At most this many jackknife groups are used for the BCa acceleration (leave-one-out when n is smaller).</summary>
    public const int MaxJackknifeGroups = 1000;

    /// <summary>Bootstrap CI of the Pearson or Spearman correlation of x and y.</summary>
    public static BootstrapInterval CorrelationCi(double[] x, double[] y, CorrelationMethod correlation = CorrelationMethod.Pearson,
        BootstrapMethod method = BootstrapMethod.Bca, int resamples = 2000, double confidence = 0.95, int seed = 0)
    {
        Correlation.Check(x, y);
        return Statistic(x.Length, idx =>
        {
            var xs = Gather(x, idx);
            var ys = Gather(y, idx);
            return correlation == CorrelationMethod.Spearman
                ? Correlation.PearsonR(Ranking.AverageRanks(xs), Ranking.AverageRanks(ys), "rank(x)", "rank(y)")
                : Correlation.PearsonR(xs, ys);
        }, method, resamples, confidence, seed);
    }

    /// <summary>Bootstrap CI of the partial correlation of x and y given the covariates (rows resampled jointly).</summary>
    public static BootstrapInterval PartialCorrelationCi(double[] x, double[] y, IReadOnlyList<double[]> covariates,
        BootstrapMethod method = BootstrapMethod.Bca, int resamples = 2000, double confidence = 0.95, int seed = 0)
    {
        Validation.NotNull(covariates, nameof(covariates));
        Correlation.Partial(x, y, covariates); // validates and fails early on degenerate full data
        return Statistic(x.Length, idx =>
            Correlation.Partial(Gather(x, idx), Gather(y, idx), covariates.Select(c => Gather(c, idx)).ToArray()).R,
            method, resamples, confidence, seed);
    }

    /// <summary>
    /// Generic bootstrap CI of a statistic of n rows. <paramref name="statistic"/> receives the row indices of one sample
    /// (with repetitions for a resample, a subset for the jackknife) and must not keep the array; it may be called in
    /// parallel. A <see cref="DegenerateDataException"/> marks that sample as failed.
    /// </summary>
    public static BootstrapInterval Statistic(int n, Func<int[], double> statistic, BootstrapMethod method = BootstrapMethod.Bca,
        int resamples = 2000, double confidence = 0.95, int seed = 0)
    {
        Validation.NotNull(statistic, nameof(statistic));
        Validation.MinCount(n, 3, "A bootstrap interval");
        if (resamples < 100) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "Use at least 100 resamples.");
        if (!(confidence > 0 && confidence < 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Confidence must lie in (0, 1).");

        var all = Enumerable.Range(0, n).ToArray();
        double estimate = statistic(all);
        if (!double.IsFinite(estimate)) throw new DegenerateDataException($"The statistic is not finite ({estimate}) on the full data.");

        var master = new Random(seed);
        var seeds = new int[resamples];
        for (int b = 0; b < resamples; b++) seeds[b] = master.Next();
        var values = new double[resamples];
        var ok = new bool[resamples];
        Parallel.For(0, resamples, () => new int[n], (b, _, idx) =>
        {
            var rng = new Random(seeds[b]);
            for (int i = 0; i < n; i++) idx[i] = rng.Next(n);
            try
            {
                values[b] = statistic(idx);
                ok[b] = double.IsFinite(values[b]);
            }
            catch (DegenerateDataException)
            {
                ok[b] = false;
            }
            return idx;
        }, _ => { });
        var sample = values.Where((_, b) => ok[b]).ToArray();
        int failed = resamples - sample.Length;
        if (failed > resamples / 10)
            throw new DegenerateDataException($"The statistic was undefined on {failed} of {resamples} bootstrap resamples; the data are too degenerate for a bootstrap interval.");
        Array.Sort(sample);

        double alpha = 1 - confidence;
        if (method == BootstrapMethod.Percentile)
            return new BootstrapInterval(estimate, Quantile(sample, alpha / 2), Quantile(sample, 1 - alpha / 2), confidence,
                method, resamples, failed, seed, null, null);

        int below = 0;
        foreach (double v in sample) if (v < estimate) below++;
        double fraction = (double)below / sample.Length;
        if (fraction <= 0 || fraction >= 1)
            throw new DegenerateDataException("BCa is undefined: every bootstrap estimate lies on one side of the full-data estimate; use the percentile method.");
        double z0 = Distributions.NormalQuantile(fraction);
        double a = Acceleration(n, statistic);
        double lowerLevel = BcaLevel(z0, a, Distributions.NormalQuantile(alpha / 2));
        double upperLevel = BcaLevel(z0, a, Distributions.NormalQuantile(1 - alpha / 2));
        return new BootstrapInterval(estimate, Quantile(sample, lowerLevel), Quantile(sample, upperLevel), confidence,
            method, resamples, failed, seed, z0, a);
    }

    private static double BcaLevel(double z0, double a, double zAlpha)
    {
        double shifted = z0 + zAlpha;
        return 1.0 - Distributions.NormalSurvival(z0 + shifted / (1 - a * shifted));
    }

    /// <summary>a = sum(d^3) / (6 (sum d^2)^1.5) with d = mean(theta_(g)) - theta_(g) over jackknife groups g.</summary>
    private static double Acceleration(int n, Func<int[], double> statistic)
    {
        int groups = Math.Min(n, MaxJackknifeGroups);
        var thetas = new double[groups];
        var failed = new bool[groups];
        Parallel.For(0, groups, g =>
        {
            // Group g holds rows i with i % groups == g (leave-one-out when groups == n).
            var keep = new int[n - (n / groups + (g < n % groups ? 1 : 0))];
            int m = 0;
            for (int i = 0; i < n; i++) if (i % groups != g) keep[m++] = i;
            try
            {
                thetas[g] = statistic(keep);
                failed[g] = !double.IsFinite(thetas[g]);
            }
            catch (DegenerateDataException)
            {
                failed[g] = true;
            }
        });
        if (failed.Any(f => f)) throw new DegenerateDataException("BCa is undefined: the statistic is undefined on a jackknife sample; use the percentile method.");
        double mean = thetas.Average();
        double s2 = 0, s3 = 0;
        foreach (double t in thetas)
        {
            double d = mean - t;
            s2 += d * d;
            s3 += d * d * d;
        }
        return s2 > 0 ? s3 / (6 * Math.Pow(s2, 1.5)) : 0.0;
    }

    /// <summary>Linear-interpolated quantile of sorted data (numpy 'linear').</summary>
    private static double Quantile(double[] sorted, double q)
    {
        q = Math.Clamp(q, 0, 1);
        double h = (sorted.Length - 1) * q;
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    private static double[] Gather(double[] source, int[] idx)
    {
        var result = new double[idx.Length];
        for (int i = 0; i < idx.Length; i++) result[i] = source[idx[i]];
        return result;
    }
}
