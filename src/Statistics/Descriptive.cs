namespace BiasBench.Statistics;

/// <summary>Means, variances and per-group summaries.</summary>
public static class Descriptive
{
    public static double Mean(ReadOnlySpan<double> values)
    {
        if (values.Length == 0) throw new DegenerateDataException("Mean of an empty sample is undefined.");
        return Kernels.Sum(values) / values.Length;
    }

    /// <summary>Variance with <paramref name="ddof"/> delta degrees of freedom (1 = sample variance, as pandas; 0 = numpy default).</summary>
    public static double Variance(ReadOnlySpan<double> values, int ddof = 1)
    {
        if (values.Length - ddof <= 0)
            throw new DegenerateDataException($"Variance with ddof={ddof} needs more than {ddof} observations, got {values.Length}.");
        double mean = Mean(values);
        Kernels.CenteredMoments(values, mean, values, mean, out _, out double ss, out _);
        return ss / (values.Length - ddof);
    }

    public static double StandardDeviation(ReadOnlySpan<double> values, int ddof = 1) => Math.Sqrt(Variance(values, ddof));

    /// <summary>Splits <paramref name="values"/> by the parallel <paramref name="keys"/>, groups ordered by key (ordinal).</summary>
    public static IReadOnlyList<KeyValuePair<TKey, double[]>> GroupBy<TKey>(IReadOnlyList<double> values, IReadOnlyList<TKey> keys)
        where TKey : notnull
    {
        Validation.SameLength(values.Count, keys.Count, nameof(keys));
        var groups = new SortedDictionary<TKey, List<double>>();
        for (int i = 0; i < values.Count; i++)
        {
            if (!groups.TryGetValue(keys[i], out var list)) groups[keys[i]] = list = new List<double>();
            list.Add(values[i]);
        }
        return groups.Select(g => new KeyValuePair<TKey, double[]>(g.Key, g.Value.ToArray())).ToList();
    }

    /// <summary>Mean of each group, groups ordered by key.</summary>
    public static IReadOnlyList<KeyValuePair<TKey, double>> GroupMeans<TKey>(IReadOnlyList<double> values, IReadOnlyList<TKey> keys)
        where TKey : notnull
        => GroupBy(values, keys).Select(g => new KeyValuePair<TKey, double>(g.Key, Mean(g.Value))).ToList();
}
