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
    double? Acceleration)
{
    /// <summary>Standard deviation (ddof = 1) of the defined bootstrap estimates (scipy's <c>standard_error</c>).</summary>
    public double StandardError { get; init; } = double.NaN;
}

/// <summary>One interval of a batch, or why it is undefined (<see cref="Error"/>).</summary>
public sealed record BootstrapOutcome(BootstrapInterval? Interval, string? Error);

/// <summary>
/// Where the rows of each bootstrap resample come from: drawn from a seed (the default; every resample has its own
/// generator seeded from a master generator, so the result does not depend on the number of threads) or given
/// explicitly (e.g. the resample indices another implementation drew, to reproduce its intervals exactly).
/// </summary>
public abstract class BootstrapResamples
{
    private BootstrapResamples(int count, int seed) { Count = count; Seed = seed; }

    /// <summary>Number of resamples.</summary>
    public int Count { get; }

    /// <summary>The seed the resamples were drawn from (0 for explicit indices).</summary>
    public int Seed { get; }

    /// <summary>Writes the row indices of resample <paramref name="b"/> into <paramref name="rows"/> (length n).</summary>
    public abstract void Fill(int b, int[] rows);

    /// <summary>Resamples drawn with replacement from <paramref name="seed"/> (what every seeded overload uses).</summary>
    public static BootstrapResamples Seeded(int seed, int count) => new SeededResamples(seed, count);

    /// <summary>
    /// Explicit resamples: <paramref name="indices"/> is row-major [count, n], resample b uses rows indices[b * n .. b * n + n).
    /// </summary>
    public static BootstrapResamples Explicit(int[] indices, int n)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (n < 1 || indices.Length == 0 || indices.Length % n != 0)
            throw new ArgumentException($"{indices.Length} indices do not form whole resamples of {n} rows.", nameof(indices));
        foreach (int i in indices)
            if ((uint)i >= (uint)n) throw new ArgumentOutOfRangeException(nameof(indices), i, $"A resample index must lie in [0, {n}).");
        return new ExplicitResamples(indices, n);
    }

    internal void CheckRows(int n)
    {
        if (this is ExplicitResamples e && e.N != n)
            throw new ArgumentException($"The explicit resamples have {e.N} rows each; the data have {n}.");
    }

    private sealed class SeededResamples : BootstrapResamples
    {
        private readonly int[] _seeds;

        public SeededResamples(int seed, int count) : base(count, seed)
        {
            var master = new Random(seed);
            _seeds = new int[count];
            for (int b = 0; b < count; b++) _seeds[b] = master.Next();
        }

        public override void Fill(int b, int[] rows)
        {
            var rng = new Random(_seeds[b]);
            for (int i = 0; i < rows.Length; i++) rows[i] = rng.Next(rows.Length);
        }
    }

    private sealed class ExplicitResamples(int[] indices, int n) : BootstrapResamples(indices.Length / n, 0)
    {
        public int N => n;

        public override void Fill(int b, int[] rows) => Array.Copy(indices, (long)b * n, rows, 0, n);
    }
}

/// <summary>
/// Nonparametric (row-resampling) bootstrap. Reproducible: the same seed gives the same interval regardless of the
/// number of threads, because every resample draws from its own generator seeded from a master generator.
/// </summary>
public static class Bootstrap
{
    /// <summary>At most this many jackknife groups are used for the BCa acceleration (leave-one-out when n is smaller).</summary>
    /// <remarks>scipy's BCa always leaves one row out; pass <c>jackknifeGroups: int.MaxValue</c> to the overloads that
    /// take <see cref="BootstrapResamples"/> for exactly that on any n (cheap on the shared-cross-product path, which
    /// downdates one row per group; slow on the generic path for large n, which refits).</remarks>
    public const int MaxJackknifeGroups = 1000;

    /// <summary>Bootstrap CI of the Pearson or Spearman correlation of x and y.</summary>
    public static BootstrapInterval CorrelationCi(double[] x, double[] y, CorrelationMethod correlation = CorrelationMethod.Pearson,
        BootstrapMethod method = BootstrapMethod.Bca, int resamples = 2000, double confidence = 0.95, int seed = 0)
    {
        CheckCount(resamples);
        return CorrelationCi(x, y, BootstrapResamples.Seeded(seed, resamples), correlation, method, confidence);
    }

    /// <summary>Bootstrap CI of the Pearson or Spearman correlation of x and y from the given resamples.</summary>
    public static BootstrapInterval CorrelationCi(double[] x, double[] y, BootstrapResamples resamples,
        CorrelationMethod correlation = CorrelationMethod.Pearson, BootstrapMethod method = BootstrapMethod.Bca, double confidence = 0.95,
        int jackknifeGroups = MaxJackknifeGroups)
    {
        Correlation.Check(x, y);
        if (correlation == CorrelationMethod.Spearman)
        {
            // Ranks of each resample by counting over the columns' sorted levels: O(n) per resample, same ranks as sorting.
            var (rx, ry) = (RankLevels.Of(x), RankLevels.Of(y));
            return Statistic(x.Length, idx => Correlation.PearsonR(rx.AverageRanks(idx), ry.AverageRanks(idx), "rank(x)", "rank(y)"),
                resamples, method, confidence, jackknifeGroups);
        }
        return Statistic(x.Length, idx => Correlation.PearsonR(Gather(x, idx), Gather(y, idx)), resamples, method, confidence, jackknifeGroups);
    }

    /// <summary>Bootstrap CI of the partial correlation of x and y given the covariates (rows resampled jointly).</summary>
    public static BootstrapInterval PartialCorrelationCi(double[] x, double[] y, IReadOnlyList<double[]> covariates,
        BootstrapMethod method = BootstrapMethod.Bca, int resamples = 2000, double confidence = 0.95, int seed = 0)
    {
        CheckCount(resamples);
        return PartialCorrelationCi(x, y, covariates, BootstrapResamples.Seeded(seed, resamples), method, confidence);
    }

    /// <summary>Bootstrap CI of the partial correlation of x and y given the covariates from the given resamples.</summary>
    public static BootstrapInterval PartialCorrelationCi(double[] x, double[] y, IReadOnlyList<double[]> covariates,
        BootstrapResamples resamples, BootstrapMethod method = BootstrapMethod.Bca, double confidence = 0.95,
        int jackknifeGroups = MaxJackknifeGroups)
    {
        Validation.NotNull(covariates, nameof(covariates));
        Correlation.Partial(x, y, covariates); // validates and fails early on degenerate full data
        return Statistic(x.Length, idx =>
            Correlation.Partial(Gather(x, idx), Gather(y, idx), covariates.Select(c => Gather(c, idx)).ToArray()).R,
            resamples, method, confidence, jackknifeGroups);
    }

    /// <summary>
    /// Generic bootstrap CI of a statistic of n rows. <paramref name="statistic"/> receives the row indices of one sample
    /// (with repetitions for a resample, a subset for the jackknife) and must not keep the array; it may be called in
    /// parallel. A <see cref="DegenerateDataException"/> marks that sample as failed.
    /// </summary>
    public static BootstrapInterval Statistic(int n, Func<int[], double> statistic, BootstrapMethod method = BootstrapMethod.Bca,
        int resamples = 2000, double confidence = 0.95, int seed = 0)
    {
        CheckCount(resamples);
        return Statistic(n, statistic, BootstrapResamples.Seeded(seed, resamples), method, confidence);
    }

    /// <summary>Generic bootstrap CI of a statistic of n rows from the given resamples (see the seeded overload).</summary>
    public static BootstrapInterval Statistic(int n, Func<int[], double> statistic, BootstrapResamples resamples,
        BootstrapMethod method = BootstrapMethod.Bca, double confidence = 0.95, int jackknifeGroups = MaxJackknifeGroups)
    {
        Validation.NotNull(statistic, nameof(statistic));
        Validation.NotNull(resamples, nameof(resamples));
        Validation.MinCount(n, 3, "A bootstrap interval");
        CheckArguments(resamples, n, confidence, jackknifeGroups);

        var all = Enumerable.Range(0, n).ToArray();
        double estimate = statistic(all);
        if (!double.IsFinite(estimate)) throw new DegenerateDataException($"The statistic is not finite ({estimate}) on the full data.");

        int count = resamples.Count;
        var values = new double[count];
        var ok = new bool[count];
        Parallel.For(0, count, () => new int[n], (b, _, idx) =>
        {
            resamples.Fill(b, idx);
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
        return Interval(estimate, values, ok, method, confidence, resamples.Seed, () => JackknifeThetas(n, Math.Min(n, jackknifeGroups), statistic));
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
        CheckCount(resamples);
        return PartialCorrelationCis(x, ys, covariates, BootstrapResamples.Seeded(seed, resamples), method, confidence, cancellationToken);
    }

    /// <summary>The shared-cross-product intervals of the seeded overload, from the given resamples.</summary>
    public static IReadOnlyList<BootstrapOutcome> PartialCorrelationCis(double[] x, IReadOnlyList<double[]> ys,
        IReadOnlyList<double[]> covariates, BootstrapResamples resamples, BootstrapMethod method = BootstrapMethod.Bca,
        double confidence = 0.95, CancellationToken cancellationToken = default, int jackknifeGroups = MaxJackknifeGroups)
    {
        Validation.NotNull(x, nameof(x));
        Validation.NotNull(ys, nameof(ys));
        Validation.NotNull(covariates, nameof(covariates));
        Validation.NotNull(resamples, nameof(resamples));
        int n = x.Length;
        Validation.MinCount(n, 3, "A bootstrap interval");
        CheckArguments(resamples, n, confidence, jackknifeGroups);

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
        int count = resamples.Count;
        var values = live.Select(_ => new double[count]).ToArray();
        var ok = live.Select(_ => new bool[count]).ToArray();
        var parallel = new ParallelOptions { CancellationToken = cancellationToken };
        Parallel.For(0, count, parallel, () => (Rows: new int[n], Weights: new double[n], Gram: products.NewGram(), R: new double[live.Count], Factor: products.NewFactor()),
            (b, _, scratch) =>
            {
                resamples.Fill(b, scratch.Rows);
                Array.Clear(scratch.Weights);
                foreach (int i in scratch.Rows) scratch.Weights[i] += 1;
                products.Weighted(scratch.Weights, scratch.Gram);
                products.Correlations(scratch.Gram, scratch.R, scratch.Factor);
                for (int j = 0; j < live.Count; j++) (values[j][b], ok[j][b]) = (scratch.R[j], double.IsFinite(scratch.R[j]));
                return scratch;
            }, _ => { });

        double[][]? thetas = null;
        double[][] Jackknife() => thetas ??= products.Jackknife(Math.Min(n, jackknifeGroups), cancellationToken);
        for (int j = 0; j < live.Count; j++)
        {
            int output = j;
            try
            {
                outcomes[live[j]] = new BootstrapOutcome(Interval(estimates[live[j]], values[j], ok[j], method, confidence, resamples.Seed,
                    () => Jackknife()[output]), null);
            }
            catch (DegenerateDataException e)
            {
                outcomes[live[j]] = new BootstrapOutcome(null, e.Message);
            }
        }
        return outcomes;
    }

    private static void CheckCount(int resamples)
    {
        if (resamples < 100) throw new ArgumentOutOfRangeException(nameof(resamples), resamples, "Use at least 100 resamples.");
    }

    private static void CheckArguments(BootstrapResamples resamples, int n, double confidence, int jackknifeGroups)
    {
        if (jackknifeGroups < 2) throw new ArgumentOutOfRangeException(nameof(jackknifeGroups), jackknifeGroups, "Use at least 2 jackknife groups.");
        CheckCount(resamples.Count);
        resamples.CheckRows(n);
        if (!(confidence > 0 && confidence < 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Confidence must lie in (0, 1).");
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
        double standardError = sample.Length > 1 ? Descriptive.StandardDeviation(sample) : double.NaN;
        if (method == BootstrapMethod.Percentile)
            return new BootstrapInterval(estimate, Quantile(sample, alpha / 2), Quantile(sample, 1 - alpha / 2), confidence,
                method, resamples, failed, seed, null, null) { StandardError = standardError };

        // scipy's percentile of the estimate: ties with it count half ((#< + #<=) / 2B).
        int below = 0, atOrBelow = 0;
        foreach (double v in sample)
        {
            if (v < estimate) below++;
            if (v <= estimate) atOrBelow++;
        }
        double fraction = (below + atOrBelow) / (2.0 * sample.Length);
        if (fraction <= 0 || fraction >= 1)
            throw new DegenerateDataException("BCa is undefined: every bootstrap estimate lies on one side of the full-data estimate; use the percentile method.");
        double z0 = Distributions.NormalQuantile(fraction);
        double a = Acceleration(jackknife());
        double lowerLevel = BcaLevel(z0, a, Distributions.NormalQuantile(alpha / 2));
        double upperLevel = BcaLevel(z0, a, Distributions.NormalQuantile(1 - alpha / 2));
        return new BootstrapInterval(estimate, Quantile(sample, lowerLevel), Quantile(sample, upperLevel), confidence,
            method, resamples, failed, seed, z0, a) { StandardError = standardError };
    }

    private static double BcaLevel(double z0, double a, double zAlpha)
    {
        double shifted = z0 + zAlpha;
        return 1.0 - Distributions.NormalSurvival(z0 + shifted / (1 - a * shifted));
    }

    /// <summary>Leave-group-out estimates: group g holds rows i with i % groups == g (leave-one-out when n is at most
    /// <see cref="MaxJackknifeGroups"/>). NaN marks a group where the statistic is undefined.</summary>
    private static double[] JackknifeThetas(int n, int groups, Func<int[], double> statistic)
    {
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
