namespace BiasBench.Statistics;

/// <summary>
/// Pearson and Spearman correlations of every target with every feature. Indexed [target][feature]; a null entry
/// has its reason in <see cref="Reasons"/> (e.g. a constant feature).
/// </summary>
public sealed record CorrelationScanResult(
    IReadOnlyList<string> Targets,
    IReadOnlyList<string> Features,
    CorrelationResult?[][] Pearson,
    CorrelationResult?[][]? Spearman,
    string?[][] Reasons);

/// <summary>
/// Fast all-pairs correlation for wide tables (e.g. 3 rewards x 40 binary attributes x 200k rows). Each target is
/// centered and ranked once; since sum(y - mean y) = 0, r = sum x (y - mean y) / sqrt(Sxx Syy), a single dot product
/// per pair. A 0/1 feature's average ranks are an affine function of the feature, so its Spearman rho is the
/// point-biserial correlation with the target's ranks (no ranking of the feature at all).
/// </summary>
public static class CorrelationScan
{
    public static CorrelationScanResult Run(IReadOnlyList<double[]> targets, IReadOnlyList<double[]> features,
        IReadOnlyList<string>? targetNames = null, IReadOnlyList<string>? featureNames = null, bool spearman = true)
    {
        Validation.NotNull(targets, nameof(targets));
        Validation.NotNull(features, nameof(features));
        if (targetNames is not null) Validation.SameLength(targets.Count, targetNames.Count, nameof(targetNames));
        if (featureNames is not null) Validation.SameLength(features.Count, featureNames.Count, nameof(featureNames));
        var tNames = targetNames ?? Enumerable.Range(0, targets.Count).Select(i => $"y{i}").ToArray();
        var fNames = featureNames ?? Enumerable.Range(0, features.Count).Select(i => $"x{i}").ToArray();
        if (targets.Count == 0 || features.Count == 0)
            return new CorrelationScanResult(tNames, fNames, Array.Empty<CorrelationResult?[]>(), spearman ? Array.Empty<CorrelationResult?[]>() : null, Array.Empty<string?[]>());
        int n = targets[0].Length;
        foreach (var (column, name) in targets.Zip(tNames).Concat(features.Zip(fNames)))
        {
            Validation.NotNull(column, name);
            Validation.SameLength(n, column.Length, name);
        }
        Validation.MinCount(n, 3, "A correlation test");

        var targetPrep = new Prepared[targets.Count];
        var featurePrep = new Prepared[features.Count];
        Parallel.For(0, targets.Count + features.Count, k =>
        {
            if (k < targets.Count) targetPrep[k] = Prepare(targets[k], tNames[k], spearman, centerAlways: true);
            else featurePrep[k - targets.Count] = Prepare(features[k - targets.Count], fNames[k - targets.Count], spearman, centerAlways: false);
        });

        int nt = targets.Count, nf = features.Count;
        var pearson = Jagged<CorrelationResult?>(nt, nf);
        var spear = spearman ? Jagged<CorrelationResult?>(nt, nf) : null;
        var reasons = Jagged<string?>(nt, nf);
        Parallel.For(0, nt * nf, k =>
        {
            int t = k / nf, f = k % nf;
            var y = targetPrep[t];
            var x = featurePrep[f];
            string? reason = y.Problem ?? x.Problem;
            if (reason is not null)
            {
                reasons[t][f] = reason;
                return;
            }
            double r = Math.Clamp(Kernels.Dot(x.Values, y.Values) / Math.Sqrt(x.SumSquares * y.SumSquares), -1, 1);
            pearson[t][f] = new CorrelationResult(r, Distributions.CorrelationTwoSided(r, n - 2), n);
            if (spear is not null)
            {
                double rs = Math.Clamp(Kernels.Dot(x.RankValues!, y.RankValues!) / Math.Sqrt(x.RankSumSquares * y.RankSumSquares), -1, 1);
                spear[t][f] = new CorrelationResult(rs, Distributions.CorrelationTwoSided(rs, n - 2), n);
            }
        });
        return new CorrelationScanResult(tNames, fNames, pearson, spear, reasons);
    }

    /// <summary>
    /// Values used in the dot products: the centered column (targets; non-binary features) or the raw 0/1 column
    /// (binary features, whose dot with a centered target already equals the centered cross-product).
    /// </summary>
    private sealed record Prepared(double[] Values, double SumSquares, double[]? RankValues, double RankSumSquares, string? Problem);

    private static Prepared Prepare(double[] column, string name, bool withRanks, bool centerAlways)
    {
        for (int i = 0; i < column.Length; i++)
            if (!double.IsFinite(column[i]))
                return new Prepared(column, 0, null, 0, $"'{name}' contains a non-finite value ({column[i]}) at index {i}.");
        int n = column.Length;
        if (!centerAlways && Kernels.IsBinary(column, out int ones))
        {
            if (ones == 0 || ones == n) return new Prepared(column, 0, null, 0, $"'{name}' is constant (all {(ones == 0 ? 0 : 1)}).");
            double sxx = (double)ones * (n - ones) / n;
            return new Prepared(column, sxx, withRanks ? column : null, sxx, null);
        }
        var centered = Center(column, out double ss);
        if (!(ss > 1e-24 * n * Math.Max(1.0, Square(Kernels.Sum(column) / n))))
            return new Prepared(column, 0, null, 0, $"'{name}' is constant (zero variance).");
        double[]? ranks = null;
        double rss = 0;
        if (withRanks) ranks = Center(Ranking.AverageRanks(column), out rss);
        return new Prepared(centered, ss, ranks, rss, null);
    }

    private static double[] Center(double[] column, out double sumSquares)
    {
        double mean = Kernels.Sum(column) / column.Length;
        var centered = new double[column.Length];
        for (int i = 0; i < centered.Length; i++) centered[i] = column[i] - mean;
        sumSquares = Kernels.Dot(centered, centered);
        return centered;
    }

    private static double Square(double v) => v * v;

    private static T[][] Jagged<T>(int rows, int cols)
    {
        var result = new T[rows][];
        for (int i = 0; i < rows; i++) result[i] = new T[cols];
        return result;
    }
}
