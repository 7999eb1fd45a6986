namespace BiasBench.Statistics;

/// <summary>Standardised effect sizes.</summary>
public static class EffectSize
{
    /// <summary>
    /// Cohen's d = (mean(a) - mean(b)) / pooled SD, pooled SD = sqrt(((na-1) var(a) + (nb-1) var(b)) / (na + nb - 2))
    /// with sample variances (ddof = 1).
    /// </summary>
    public static double CohensD(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Validation.MinCount(a.Length, 2, "Cohen's d (first group)");
        Validation.MinCount(b.Length, 2, "Cohen's d (second group)");
        Validation.Finite(a, "a");
        Validation.Finite(b, "b");
        double va = Descriptive.Variance(a), vb = Descriptive.Variance(b);
        double pooled = ((a.Length - 1) * va + (b.Length - 1) * vb) / (a.Length + b.Length - 2);
        if (!(pooled > 0)) throw new DegenerateDataException("Cohen's d is undefined: both groups have zero variance.");
        return (Descriptive.Mean(a) - Descriptive.Mean(b)) / Math.Sqrt(pooled);
    }

    /// <summary>Cohen's d of <paramref name="values"/> between rows where <paramref name="group"/> is 1 and where it is 0.</summary>
    public static double CohensDByBinaryGroup(ReadOnlySpan<double> values, ReadOnlySpan<double> group)
    {
        Validation.SameLength(values.Length, group.Length, nameof(group));
        if (!Kernels.IsBinary(group, out int ones))
            throw new DegenerateDataException("Grouping column for Cohen's d must contain only 0 and 1.");
        var inGroup = new double[ones];
        var outGroup = new double[values.Length - ones];
        int a = 0, b = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (group[i] == 1.0) inGroup[a++] = values[i];
            else outGroup[b++] = values[i];
        }
        return CohensD(inGroup, outGroup);
    }
}
