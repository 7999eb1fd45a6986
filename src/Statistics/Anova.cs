namespace BiasBench.Statistics;

/// <summary>One-way ANOVA F test.</summary>
public sealed record AnovaResult(double F, double P, double DfBetween, double DfWithin, double SsBetween, double SsWithin);

public static class Anova
{
    /// <summary>One-way ANOVA (scipy.stats.f_oneway).</summary>
    public static AnovaResult OneWay(IReadOnlyList<double[]> groups)
    {
        Validation.NotNull(groups, nameof(groups));
        int k = groups.Count;
        if (k < 2) throw new ArgumentException($"One-way ANOVA needs at least 2 groups, got {k}.", nameof(groups));
        int total = 0;
        for (int g = 0; g < k; g++)
        {
            if (groups[g].Length == 0) throw new DegenerateDataException($"ANOVA group {g} is empty.");
            Validation.Finite(groups[g], $"group {g}");
            total += groups[g].Length;
        }
        if (total <= k) throw new DegenerateDataException($"One-way ANOVA needs more observations ({total}) than groups ({k}).");
        double grand = groups.Sum(g => Kernels.Sum(g)) / total;
        double between = 0, within = 0;
        foreach (var group in groups)
        {
            double mean = Kernels.Sum(group) / group.Length;
            between += group.Length * (mean - grand) * (mean - grand);
            Kernels.CenteredMoments(group, mean, group, mean, out _, out double ss, out _);
            within += ss;
        }
        if (!(within > 0)) throw new DegenerateDataException("One-way ANOVA is undefined: every group is constant (zero within-group variance).");
        double dfB = k - 1, dfW = total - k;
        double f = between / dfB / (within / dfW);
        return new AnovaResult(f, Distributions.FSurvival(f, dfB, dfW), dfB, dfW, between, within);
    }

    public static AnovaResult OneWay(params double[][] groups) => OneWay((IReadOnlyList<double[]>)groups);
}
