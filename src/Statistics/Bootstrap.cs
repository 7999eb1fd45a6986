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

/// <summary>One interval of a batch, or why it is undefined (<see cref="Error"/>).</summary>
public sealed record BootstrapOutcome(BootstrapInterval? Interval, string? Error);

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
        if (correlation == CorrelationMethod.Spearman)
        {
            // Ranks of each resample by counting over the columns' sorted levels: O(n) per resample, same ranks as sorting.
            var (rx, ry) = (RankLevels.Of(x), RankLevels.Of(y));
            return Statistic(x.Length, idx => Correlation.PearsonR(rx.AverageRanks(idx), ry.AverageRanks(idx), "rank(x)", "rank(y)"),
                method, resamples, confidence, seed);
        }
        return Statistic(x.Length, idx => Correlation.PearsonR(Gather(x, idx), Gather(y, idx)), method, resamples, confidence, seed);
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

        var seeds = ResampleSeeds(seed, resamples);
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
        return Interval(estimate, values, ok, method, confidence, seed, () => JackknifeThetas(n, statistic));
    }

    /// <summary>
    /// Bootstrap CIs of several partial correlations r(x, y_j | covariates) that share x and the covariates (e.g. one
    /// attribute against every reward). Same resamples (seed) and jackknife groups as <see cref="PartialCorrelationCi"/>,
    /// so the intervals agree with it to rounding, but one weighted cross-product matrix per resample serves every y_j
    /// and the BCa jackknife subtracts each group's cross-products instead of refitting. With no covariates these are
    /// Pearson correlations. Each outcome holds an interval or the reason it is undefined.
    /// </summary>
    public static IReadOnlyList<BootstrapOutcome> PartialCorrelationCis(double[] x, IReadOnlyList<double[]> ys,
        IReadOnlyList<double[]> covariates, BootstrapMethod method = BootstrapMethod.Bca, int resamples = 2000,
        double confidence = 0.95, int seed = 0, CancellationToken cancellationToken = default)
    {
        Validation.NotNull(x, nameof(x));
        Validation.NotNull(ys, nameof(ys));
        Validation.NotNull(covariates, nameof(covariates));
        int n = x.Length;
        Validation.MinCount(n, 3, "A bootstrap interval");
        if (resamples < 100) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "Use at least 100 resamples.");
        if (!(confidence > 0 && confidence < 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Confidence must lie in (0, 1).");

        var outcomes = new BootstrapOutcome[ys.Count];
        var estimates = new double[ys.Count];
        var live = new List<int>();
        for (int j = 0; j < ys.Count; j++)
        {
            try
            {
                estimates[j] = Correlation.Partial(x, ys[j], covariates).R; // validates; the exact full-data estimate
                live.Add(j);
            }
            catch (DegenerateDataException e)
            {
                outcomes[j] = new BootstrapOutcome(null, e.Message);
            }
        }
        if (live.Count == 0) return outcomes;

        var columns = new List<double[]> { x };
        columns.AddRange(live.Select(j => ys[j]));
        var products = new PartialCrossProducts(covariates, columns);
        var seeds = ResampleSeeds(seed, resamples);
        var values = live.Select(_ => new double[resamples]).ToArray();
        var ok = live.Select(_ => new bool[resamples]).ToArray();
        var parallel = new ParallelOptions { CancellationToken = cancellationToken };
        Parallel.For(0, resamples, parallel, () => (Weights: new double[n], Gram: products.NewGram(), R: new double[live.Count], Factor: products.NewFactor()),
            (b, _, scratch) =>
            {
                var rng = new Random(seeds[b]);
                Array.Clear(scratch.Weights);
                for (int i = 0; i < n; i++) scratch.Weights[rng.Next(n)] += 1;
                products.Weighted(scratch.Weights, scratch.Gram);
                products.Correlations(scratch.Gram, scratch.R, scratch.Factor);
                for (int j = 0; j < live.Count; j++) (values[j][b], ok[j][b]) = (scratch.R[j], double.IsFinite(scratch.R[j]));
                return scratch;
            }, _ => { });

        double[][]? thetas = null;
        double[][] Jackknife() => thetas ??= products.Jackknife(Math.Min(n, MaxJackknifeGroups), cancellationToken);
        for (int j = 0; j < live.Count; j++)
        {
            int output = j;
            try
            {
                outcomes[live[j]] = new BootstrapOutcome(Interval(estimates[live[j]], values[j], ok[j], method, confidence, seed,
                    () => Jackknife()[output]), null);
            }
            catch (DegenerateDataException e)
            {
                outcomes[live[j]] = new BootstrapOutcome(null, e.Message);
            }
        }
        return outcomes;
    }

    private static int[] ResampleSeeds(int seed, int resamples)
    {
        var master = new Random(seed);
        var seeds = new int[resamples];
        for (int b = 0; b < resamples; b++) seeds[b] = master.Next();
        return seeds;
    }

    /// <summary>Percentile or BCa interval from the bootstrap values; <paramref name="jackknife"/> gives the leave-group-out
    /// estimates (NaN = undefined) and is only called for BCa.</summary>
    private static BootstrapInterval Interval(double estimate, double[] values, bool[] ok, BootstrapMethod method,
        double confidence, int seed, Func<double[]> jackknife)
    {
        int resamples = values.Length;
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
        double a = Acceleration(jackknife());
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

    /// <summary>Leave-group-out estimates: group g holds rows i with i % groups == g (leave-one-out when n is at most
    /// <see cref="MaxJackknifeGroups"/>). NaN marks a group where the statistic is undefined.</summary>
    private static double[] JackknifeThetas(int n, Func<int[], double> statistic)
    {
        int groups = Math.Min(n, MaxJackknifeGroups);
        var thetas = new double[groups];
        Parallel.For(0, groups, g =>
        {
            var keep = new int[n - (n / groups + (g < n % groups ? 1 : 0))];
            int m = 0;
            for (int i = 0; i < n; i++) if (i % groups != g) keep[m++] = i;
            try
            {
                thetas[g] = statistic(keep);
            }
            catch (DegenerateDataException)
            {
                thetas[g] = double.NaN;
            }
        });
        return thetas;
    }

    /// <summary>a = sum(d^3) / (6 (sum d^2)^1.5) with d = mean(theta_(g)) - theta_(g) over jackknife groups g.</summary>
    private static double Acceleration(double[] thetas)
    {
        if (thetas.Any(t => !double.IsFinite(t)))
            throw new DegenerateDataException("BCa is undefined: the statistic is undefined on a jackknife sample; use the percentile method.");
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
