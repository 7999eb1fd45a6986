namespace BiasBench.Statistics;

/// <summary>A chi-square distributed test statistic with its upper-tail p-value.</summary>
public sealed record ChiSquareTestResult(double Statistic, double P, double Df);

/// <summary>Rank-based tests across several groups or conditions (scipy semantics, tie-corrected).</summary>
public static class RankTests
{
    /// <summary>
    /// Friedman test (scipy.stats.friedmanchisquare). Each array is one condition measured on the same blocks
    /// (index i = block i). Values are ranked within each block with average ranks; the statistic is divided by
    /// 1 - sum(t^3 - t) / (n k (k^2 - 1)).
    /// </summary>
    public static ChiSquareTestResult Friedman(IReadOnlyList<double[]> conditions)
    {
        Validation.NotNull(conditions, nameof(conditions));
        int k = conditions.Count;
        if (k < 3) throw new ArgumentException($"The Friedman test needs at least 3 conditions, got {k}.", nameof(conditions));
        int n = conditions[0].Length;
        for (int j = 0; j < k; j++)
        {
            Validation.SameLength(n, conditions[j].Length, $"condition {j}");
            Validation.Finite(conditions[j], $"condition {j}");
        }
        Validation.MinCount(n, 2, "The Friedman test");
        var rankSums = new double[k];
        var block = new double[k];
        double tieSum = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < k; j++) block[j] = conditions[j][i];
            var ranks = Ranking.AverageRanks(block, out double ties);
            tieSum += ties;
            for (int j = 0; j < k; j++) rankSums[j] += ranks[j];
        }
        double correction = 1.0 - tieSum / ((double)n * k * (k * k - 1));
        if (!(correction > 0)) throw new DegenerateDataException("Friedman test is undefined: all values are tied within every block.");
        double ss = rankSums.Sum(r => r * r);
        double chi2 = (12.0 / (n * k * (k + 1.0)) * ss - 3.0 * n * (k + 1.0)) / correction;
        return new ChiSquareTestResult(chi2, Distributions.ChiSquaredSurvival(chi2, k - 1), k - 1);
    }

    public static ChiSquareTestResult Friedman(params double[][] conditions) => Friedman((IReadOnlyList<double[]>)conditions);

    /// <summary>Kruskal-Wallis H (scipy.stats.kruskal): ranks over the pooled sample, divided by 1 - sum(t^3 - t) / (N^3 - N).</summary>
    public static ChiSquareTestResult KruskalWallis(IReadOnlyList<double[]> groups)
    {
        Validation.NotNull(groups, nameof(groups));
        int k = groups.Count;
        if (k < 2) throw new ArgumentException($"The Kruskal-Wallis test needs at least 2 groups, got {k}.", nameof(groups));
        for (int g = 0; g < k; g++)
        {
            if (groups[g].Length == 0) throw new DegenerateDataException($"Kruskal-Wallis group {g} is empty.");
            Validation.Finite(groups[g], $"group {g}");
        }
        var pooled = groups.SelectMany(g => g).ToArray();
        int total = pooled.Length;
        var ranks = Ranking.AverageRanks(pooled, out double tieSum);
        double h = 0;
        int offset = 0;
        foreach (var group in groups)
        {
            double sum = 0;
            for (int i = 0; i < group.Length; i++) sum += ranks[offset + i];
            h += sum * sum / group.Length;
            offset += group.Length;
        }
        h = 12.0 / (total * (total + 1.0)) * h - 3.0 * (total + 1.0);
        double correction = 1.0 - tieSum / ((double)total * total * total - total);
        if (!(correction > 0)) throw new DegenerateDataException("Kruskal-Wallis test is undefined: all values are identical.");
        h /= correction;
        return new ChiSquareTestResult(h, Distributions.ChiSquaredSurvival(h, k - 1), k - 1);
    }

    public static ChiSquareTestResult KruskalWallis(params double[][] groups) => KruskalWallis((IReadOnlyList<double[]>)groups);
}
