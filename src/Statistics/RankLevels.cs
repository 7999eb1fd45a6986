namespace BiasBench.Statistics;

/// <summary>
/// The distinct values of a column in ascending order, each row mapped to its level, so that the average ranks of any
/// multiset of rows (a bootstrap resample, a jackknife subset) come from counting in O(n) instead of sorting. The ranks
/// are exactly those of <see cref="Ranking.AverageRanks(ReadOnlySpan{double})"/> on the gathered values.
/// </summary>
internal sealed class RankLevels
{
    private readonly int[] _level;
    private readonly int _count;

    private RankLevels(int[] level, int count) { _level = level; _count = count; }

    public static RankLevels Of(double[] values)
    {
        Validation.Finite(values, "values");
        int n = values.Length;
        var keys = (double[])values.Clone();
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(keys, order);
        var level = new int[n];
        int current = -1;
        for (int k = 0; k < n; k++)
        {
            if (k == 0 || keys[k] != keys[k - 1]) current++;
            level[order[k]] = current;
        }
        return new RankLevels(level, current + 1);
    }

    /// <summary>Average ranks (1-based, ties averaged) of the rows <paramref name="rows"/>, in that order.</summary>
    public double[] AverageRanks(int[] rows)
    {
        var counts = new int[_count];
        foreach (int r in rows) counts[_level[r]]++;
        // rank of level v = (rows below v) + (count of v + 1) / 2, the mean of the positions the tie group occupies.
        var rank = new double[_count];
        int below = 0;
        for (int v = 0; v < _count; v++)
        {
            rank[v] = (2.0 * below + 1 + counts[v]) / 2.0;
            below += counts[v];
        }
        var result = new double[rows.Length];
        for (int i = 0; i < rows.Length; i++) result[i] = rank[_level[rows[i]]];
        return result;
    }
}
