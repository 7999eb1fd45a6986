namespace BiasBench.Statistics;

/// <summary>Ranks with ties averaged (scipy.stats.rankdata method='average'), 1-based.</summary>
public static class Ranking
{
    /// <summary>Average ranks of <paramref name="values"/>.</summary>
    public static double[] AverageRanks(ReadOnlySpan<double> values) => AverageRanks(values, out _);

    /// <summary>
    /// Average ranks; <paramref name="tieSum"/> receives sum over tie groups of (t^3 - t), the quantity used by
    /// tie corrections (Kruskal-Wallis, Friedman, Wilcoxon).
    /// </summary>
    public static double[] AverageRanks(ReadOnlySpan<double> values, out double tieSum)
    {
        int n = values.Length;
        var ranks = new double[n];
        Validation.Finite(values, "values");
        if (Kernels.IsBinary(values, out int ones))
        {
            // Two distinct values rank by counting: all zeros share one rank, all ones another.
            int zeros = n - ones;
            double zeroRank = (zeros + 1) / 2.0, oneRank = zeros + (ones + 1) / 2.0;
            for (int i = 0; i < n; i++) ranks[i] = values[i] == 1.0 ? oneRank : zeroRank;
            tieSum = Cube(zeros) + Cube(ones);
            return ranks;
        }
        var keys = values.ToArray();
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(keys, order);
        tieSum = 0;
        int start = 0;
        while (start < n)
        {
            int end = start + 1;
            while (end < n && keys[end] == keys[start]) end++;
            double rank = (start + 1 + end) / 2.0; // mean of 1-based ranks start+1..end
            for (int k = start; k < end; k++) ranks[order[k]] = rank;
            int t = end - start;
            if (t > 1) tieSum += Cube(t);
            start = end;
        }
        return ranks;
    }

    private static double Cube(int t) => (double)t * t * t - t;
}
