using MathNet.Numerics.Distributions;

namespace BiasBench.Plugins.Analyses.Tests.RatingCorrelation;

/// <summary>
/// The statistics of the rating analysis written out from their textbook definitions, independently of src/Statistics
/// (sums of centred products, average ranks, the t / normal / chi-square tails from MathNet's distributions), so that
/// the analysis can be checked against something it does not share code with.
/// </summary>
internal static class Textbook
{
    public static double Mean(IReadOnlyList<double> v) => v.Sum() / v.Count;

    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double mx = Mean(x), my = Mean(y), sxy = 0, sxx = 0, syy = 0;
        for (var i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>Ranks 1..n, tied values sharing the mean of their ranks.</summary>
    public static double[] AverageRanks(IReadOnlyList<double> v)
    {
        var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var ranks = new double[v.Count];
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && v[order[end + 1]] == v[order[start]]) end++;
            var rank = (start + end) / 2.0 + 1;
            for (var k = start; k <= end; k++) ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }

    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y) => Pearson(AverageRanks(x), AverageRanks(y));

    /// <summary>Two-sided p of H0: rho = 0 from t = r sqrt(df / (1 - r^2)), as the lower tail of -|t| (no 1 - cdf).</summary>
    public static double CorrelationP(double r, int df) => 2 * StudentT.CDF(0, 1, df, -Math.Abs(r) * Math.Sqrt(df / (1 - r * r)));

    public static double TwoSidedT(double t, double df) => 2 * StudentT.CDF(0, 1, df, -Math.Abs(t));

    public static double TwoSidedNormal(double z) => 2 * Normal.CDF(0, 1, -Math.Abs(z));

    public static double Quantile(double confidence) => Normal.InvCDF(0, 1, 1 - (1 - confidence) / 2);

    public static (double, double) FisherInterval(double r, double variance, double confidence)
    {
        var z = 0.5 * Math.Log((1 + r) / (1 - r));
        var half = Quantile(confidence) * Math.Sqrt(variance);
        return (Math.Tanh(z - half), Math.Tanh(z + half));
    }

    /// <summary>Benjamini-Hochberg: q_(i) = min over j >= i of p_(j) m / j, in input order.</summary>
    public static double[] BenjaminiHochberg(IReadOnlyList<double> p)
    {
        var m = p.Count;
        var order = Enumerable.Range(0, m).OrderBy(i => p[i]).ToArray();
        var q = new double[m];
        var running = 1.0;
        for (var k = m - 1; k >= 0; k--)
        {
            running = Math.Min(running, p[order[k]] * m / (k + 1));
            q[order[k]] = running;
        }
        return q;
    }

    public sealed record SlopeFit(double Slope, double Intercept, double Se, double SeHc3, double Df, double R2);

    /// <summary>
    /// y = a_g + b x with one intercept per group (a single group: simple regression). By Frisch-Waugh-Lovell the slope is the
    /// regression of the within-group deviations; the slope's row of (X'X)^-1 X' is (x_i - xbar_g) / W and the leverage is
    /// 1/n_g + (x_i - xbar_g)^2 / W, which gives HC3 = sum (x_i - xbar_g)^2 e_i^2 / (1 - h_i)^2 / W^2.
    /// </summary>
    public static SlopeFit WithinGroupSlope(IReadOnlyList<double> x, IReadOnlyList<double> y, IReadOnlyList<string> groups)
    {
        var levels = groups.Distinct().ToList();
        var n = x.Count;
        var count = levels.ToDictionary(g => g, g => groups.Count(v => v == g));
        var mx = levels.ToDictionary(g => g, g => Mean(Enumerable.Range(0, n).Where(i => groups[i] == g).Select(i => x[i]).ToList()));
        var my = levels.ToDictionary(g => g, g => Mean(Enumerable.Range(0, n).Where(i => groups[i] == g).Select(i => y[i]).ToList()));
        double w = 0, sxy = 0;
        for (var i = 0; i < n; i++)
        {
            w += (x[i] - mx[groups[i]]) * (x[i] - mx[groups[i]]);
            sxy += (x[i] - mx[groups[i]]) * (y[i] - my[groups[i]]);
        }
        var b = sxy / w;
        double ssr = 0, meat = 0, ybar = Mean(y), sst = 0;
        for (var i = 0; i < n; i++)
        {
            var dx = x[i] - mx[groups[i]];
            var e = y[i] - my[groups[i]] - b * dx;
            var h = 1.0 / count[groups[i]] + dx * dx / w;
            ssr += e * e;
            meat += dx * dx * e * e / ((1 - h) * (1 - h));
            sst += (y[i] - ybar) * (y[i] - ybar);
        }
        var df = n - levels.Count - 1.0;
        var intercept = levels.Count == 1 ? my[levels[0]] - b * mx[levels[0]] : double.NaN;
        return new SlopeFit(b, intercept, Math.Sqrt(ssr / df / w), Math.Sqrt(meat) / w, df, 1 - ssr / sst);
    }

    /// <summary>Correlation of the within-group deviations: the partial correlation given the group dummies.</summary>
    public static double WithinGroupCorrelation(IReadOnlyList<double> x, IReadOnlyList<double> y, IReadOnlyList<string> groups)
    {
        var n = x.Count;
        var dx = new double[n];
        var dy = new double[n];
        foreach (var g in groups.Distinct())
        {
            var rows = Enumerable.Range(0, n).Where(i => groups[i] == g).ToList();
            double mx = rows.Average(i => x[i]), my = rows.Average(i => y[i]);
            foreach (var i in rows) { dx[i] = x[i] - mx; dy[i] = y[i] - my; }
        }
        double sxy = 0, sxx = 0, syy = 0;
        for (var i = 0; i < n; i++) { sxy += dx[i] * dy[i]; sxx += dx[i] * dx[i]; syy += dy[i] * dy[i]; }
        return sxy / Math.Sqrt(sxx * syy);
    }
}
