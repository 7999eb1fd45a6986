namespace BiasBench.Statistics;

/// <summary>A z test statistic with its two-sided p-value.</summary>
public sealed record ZTestResult(double Z, double P);

/// <summary>A confidence interval [Lower, Upper] at <see cref="Confidence"/>.</summary>
public sealed record Interval(double Lower, double Upper, double Confidence);

/// <summary>Tests and intervals for proportions (statsmodels semantics).</summary>
public static class Proportions
{
    /// <summary>
    /// Two-sample z test of p1 - p2 with the pooled variance (statsmodels proportions_ztest(count=[c1, c2], nobs=[n1, n2])).
    /// </summary>
    public static ZTestResult TwoProportionZ(long count1, long n1, long count2, long n2)
    {
        CheckCount(count1, n1, "first sample");
        CheckCount(count2, n2, "second sample");
        double p1 = (double)count1 / n1, p2 = (double)count2 / n2;
        double pooled = (double)(count1 + count2) / (n1 + n2);
        double variance = pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2);
        if (!(variance > 0))
            throw new DegenerateDataException($"Two-proportion z test is undefined: the pooled proportion is {pooled} (all successes or all failures).");
        double z = (p1 - p2) / Math.Sqrt(variance);
        return new ZTestResult(z, Distributions.NormalTwoSided(z));
    }

    /// <summary>Wilson score interval for count / n (statsmodels proportion_confint method='wilson').</summary>
    public static Interval Wilson(long count, long n, double confidence = 0.95)
    {
        CheckCount(count, n, "sample");
        double z = CriticalValue(confidence);
        double p = (double)count / n, z2 = z * z;
        double denominator = 1 + z2 / n;
        double center = (p + z2 / (2.0 * n)) / denominator;
        double half = z / denominator * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        return new Interval(Math.Max(0.0, center - half), Math.Min(1.0, center + half), confidence);
    }

    /// <summary>
    /// Newcombe's hybrid score interval (his method 10) for p1 - p2, built from the two Wilson intervals:
    /// [d - sqrt((p1 - l1)^2 + (u2 - p2)^2), d + sqrt((u1 - p1)^2 + (p2 - l2)^2)].
    /// </summary>
    public static Interval NewcombeDifference(long count1, long n1, long count2, long n2, double confidence = 0.95)
    {
        var w1 = Wilson(count1, n1, confidence);
        var w2 = Wilson(count2, n2, confidence);
        double p1 = (double)count1 / n1, p2 = (double)count2 / n2, d = p1 - p2;
        double lower = d - Math.Sqrt(Square(p1 - w1.Lower) + Square(w2.Upper - p2));
        double upper = d + Math.Sqrt(Square(w1.Upper - p1) + Square(p2 - w2.Lower));
        return new Interval(lower, upper, confidence);
    }

    internal static double CriticalValue(double confidence)
    {
        if (!(confidence > 0 && confidence < 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Confidence must lie in (0, 1).");
        return Distributions.NormalQuantile(1 - (1 - confidence) / 2);
    }

    private static double Square(double v) => v * v;

    private static void CheckCount(long count, long n, string what)
    {
        if (n <= 0) throw new DegenerateDataException($"Proportion of the {what} is undefined: n = {n}.");
        if (count < 0 || count > n) throw new ArgumentOutOfRangeException(nameof(count), count, $"Count of the {what} must lie in [0, {n}].");
    }
}
