namespace BiasBench.Statistics;

/// <summary>Multiple-testing corrections (statsmodels.stats.multitest.multipletests semantics).</summary>
public static class MultipleTesting
{
    /// <summary>
    /// Benjamini-Hochberg q-values (method 'fdr_bh'): q_(i) = min_{j &gt;= i} p_(j) m / j, capped at 1, in input order.
    /// </summary>
    public static double[] BenjaminiHochberg(IReadOnlyList<double> pValues)
    {
        Validation.NotNull(pValues, nameof(pValues));
        int m = pValues.Count;
        var q = new double[m];
        if (m == 0) return q;
        var order = new int[m];
        var sorted = new double[m];
        for (int i = 0; i < m; i++)
        {
            double p = pValues[i];
            if (!(p >= 0 && p <= 1)) throw new DegenerateDataException($"p-value at index {i} is {p}; p-values must lie in [0, 1].");
            order[i] = i;
            sorted[i] = p;
        }
        Array.Sort(sorted, order);
        double running = 1.0;
        for (int rank = m; rank >= 1; rank--)
        {
            running = Math.Min(running, sorted[rank - 1] * m / rank);
            q[order[rank - 1]] = running;
        }
        return q;
    }

    /// <summary>Bonferroni-adjusted p-values min(1, p m).</summary>
    public static double[] Bonferroni(IReadOnlyList<double> pValues)
    {
        Validation.NotNull(pValues, nameof(pValues));
        int m = pValues.Count;
        var adjusted = new double[m];
        for (int i = 0; i < m; i++) adjusted[i] = Math.Min(1.0, pValues[i] * m);
        return adjusted;
    }
}
