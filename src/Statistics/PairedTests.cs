namespace BiasBench.Statistics;

/// <summary>Paired t test of a - b (scipy.stats.ttest_rel).</summary>
public sealed record PairedTTestResult(double T, double P, double Df, double MeanDifference, int N);

public enum WilcoxonMethod
{
    /// <summary>Exact null distribution when there are at most 50 non-zero differences and no ties or zeros, else normal (scipy 'auto').</summary>
    Auto,
    Exact,
    /// <summary>Normal approximation with the tie-corrected variance, no continuity correction.</summary>
    Normal,
}

/// <summary>
/// Wilcoxon signed-rank test of a - b (scipy.stats.wilcoxon, zero_method='wilcox', correction=False):
/// W = min(W+, W-) over the non-zero differences; <see cref="Z"/> is null for the exact method.
/// </summary>
public sealed record WilcoxonResult(double W, double P, int N, int ZeroDifferences, WilcoxonMethod Method, double? Z);

/// <summary>Tests on paired samples.</summary>
public static class PairedTests
{
    public static PairedTTestResult TTest(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var d = Differences(a, b);
        Validation.MinCount(d.Length, 2, "A paired t test");
        double mean = Descriptive.Mean(d);
        double sd = Descriptive.StandardDeviation(d, 1);
        if (!(sd > 0))
            throw new DegenerateDataException(mean == 0
                ? "Paired t test is undefined: all pairs are equal."
                : "Paired t test is undefined: every pair differs by the same amount (zero variance of the differences).");
        double t = mean / (sd / Math.Sqrt(d.Length));
        double df = d.Length - 1;
        return new PairedTTestResult(t, Distributions.StudentTTwoSided(t, df), df, mean, d.Length);
    }

    public static WilcoxonResult Wilcoxon(ReadOnlySpan<double> a, ReadOnlySpan<double> b, WilcoxonMethod method = WilcoxonMethod.Auto)
    {
        var all = Differences(a, b);
        var nonZero = all.Where(v => v != 0).ToArray();
        int zeros = all.Length - nonZero.Length;
        int n = nonZero.Length;
        if (n == 0) throw new DegenerateDataException("Wilcoxon signed-rank test is undefined: all pairs are equal (every difference is zero).");
        var absolute = nonZero.Select(Math.Abs).ToArray();
        var ranks = Ranking.AverageRanks(absolute, out double tieSum);
        double plus = 0, minus = 0;
        for (int i = 0; i < n; i++)
        {
            if (nonZero[i] > 0) plus += ranks[i];
            else minus += ranks[i];
        }
        double w = Math.Min(plus, minus);
        bool ties = tieSum > 0;
        if (method == WilcoxonMethod.Auto) method = n <= 50 && !ties && zeros == 0 ? WilcoxonMethod.Exact : WilcoxonMethod.Normal;
        if (method == WilcoxonMethod.Exact)
        {
            if (ties) throw new DegenerateDataException("The exact Wilcoxon distribution assumes no tied |differences|; use the normal approximation.");
            if (n > 1000) throw new ArgumentException($"The exact Wilcoxon distribution is limited to 1000 pairs, got {n}.");
            return new WilcoxonResult(w, ExactTwoSided(n, plus), n, zeros, WilcoxonMethod.Exact, null);
        }
        double mean = n * (n + 1) / 4.0;
        double variance = (n * (n + 1.0) * (2.0 * n + 1.0) - 0.5 * tieSum) / 24.0;
        if (!(variance > 0)) throw new DegenerateDataException("Wilcoxon normal approximation is undefined: zero variance.");
        double z = (w - mean) / Math.Sqrt(variance);
        return new WilcoxonResult(w, Distributions.NormalTwoSided(z), n, zeros, WilcoxonMethod.Normal, z);
    }

    /// <summary>2 min(P(W+ &lt;= w), P(W+ &gt;= w)) under H0 (each sign equally likely), capped at 1.</summary>
    private static double ExactTwoSided(int n, double plus)
    {
        int max = n * (n + 1) / 2;
        // counts[s] = number of sign assignments with W+ = s; scaled by 1/2 per element to stay a probability.
        var prob = new double[max + 1];
        prob[0] = 1;
        int reach = 0;
        for (int k = 1; k <= n; k++)
        {
            reach += k;
            for (int s = reach; s >= 0; s--)
                prob[s] = 0.5 * (prob[s] + (s >= k ? prob[s - k] : 0));
        }
        int w = (int)Math.Round(plus);
        double lower = 0, upper = 0;
        for (int s = 0; s <= max; s++)
        {
            if (s <= w) lower += prob[s];
            if (s >= w) upper += prob[s];
        }
        return Math.Min(1.0, 2.0 * Math.Min(lower, upper));
    }

    private static double[] Differences(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Validation.SameLength(a.Length, b.Length, "b");
        Validation.Finite(a, "a");
        Validation.Finite(b, "b");
        var d = new double[a.Length];
        for (int i = 0; i < d.Length; i++) d[i] = a[i] - b[i];
        return d;
    }
}
