using System.Text.Json;
using BiasBench.Statistics.Tests.Support;
using BiasBench.TestSupport;

namespace BiasBench.Statistics.Tests;

public class FisherZTests(ITestOutputHelper output)
{
    /// <summary>expected_effects.json: the 95% Fisher-z interval of every Pearson r and of the partial r of Attractive (n - 3 - k).</summary>
    [Fact]
    public void Intervals_match_the_fixture_for_every_correlation_and_partial_correlation()
    {
        var effects = Fixtures.Json("stats/expected_effects.json").RootElement.GetProperty("celeba");
        var n = effects.GetProperty("n").GetInt32();
        var check = new Agreement(output, "Fisher-z intervals");
        foreach (var reward in effects.GetProperty("fisher_z").EnumerateObject())
        foreach (var attribute in reward.Value.EnumerateObject())
            Compare(check, $"{reward.Name}~{attribute.Name}", attribute.Value, attribute.Value.GetProperty("pearson").GetDouble(), n, 0);
        foreach (var reward in effects.GetProperty("partial_attractive_fisher_z").EnumerateObject())
        foreach (var set in reward.Value.EnumerateObject())
            Compare(check, $"{reward.Name} | {set.Name}", set.Value, set.Value.GetProperty("r").GetDouble(), n, set.Value.GetProperty("k").GetInt32());
        check.Check();
    }

    private static void Compare(Agreement check, string what, JsonElement e, double r, int n, int k)
    {
        var ci = e.GetProperty("fisher_ci95");
        var (lower, upper) = FisherZ.Interval(r, n, k, 0.95);
        check.Value(what + " lower", ci[0].GetDouble(), lower);
        check.Value(what + " upper", ci[1].GetDouble(), upper);
    }

    [Fact]
    public void Difference_and_homogeneity_tests_follow_the_textbook_formulas()
    {
        // Worked by hand: z = (atanh .5 - atanh .3) / sqrt(1/47 + 1/97).
        var d = FisherZ.CompareIndependent(0.5, 50, 0.3, 100);
        var z = (Math.Atanh(0.5) - Math.Atanh(0.3)) / Math.Sqrt(1.0 / 47 + 1.0 / 97);
        Assert.Equal(z, d.Z, 14);
        Assert.Equal(MathNet.Numerics.SpecialFunctions.Erfc(Math.Abs(z) / Math.Sqrt(2)), d.P, 14);
        Assert.Equal(-d.Z, FisherZ.CompareIndependent(0.3, 100, 0.5, 50).Z, 14);

        double[] r = [0.5, 0.3, 0.1];
        int[] ns = [50, 100, 30];
        var h = FisherZ.Homogeneity(r, ns);
        var zs = r.Select(Math.Atanh).ToArray();
        var w = ns.Select(x => x - 3.0).ToArray();
        var mean = zs.Zip(w, (a, b) => a * b).Sum() / w.Sum();
        var q = zs.Zip(w, (a, b) => b * (a - mean) * (a - mean)).Sum();
        Assert.Equal(q, h.ChiSquare, 12);
        Assert.Equal(2, h.Df);
        Assert.Equal(Math.Exp(-q / 2), h.P, 12); // chi-square with 2 df: survival exp(-x/2)
        Assert.Equal(Math.Tanh(mean), h.PooledR, 14);

        // Two groups: the homogeneity chi-square is the square of the difference z.
        var two = FisherZ.Homogeneity([0.5, 0.3], [50, 100]);
        Assert.Equal(d.Z * d.Z, two.ChiSquare, 12);
        Assert.Equal(d.P, two.P, 10);
    }

    [Fact]
    public void Spearman_interval_uses_the_Bonett_Wright_variance()
    {
        var (lower, upper) = FisherZ.SpearmanInterval(0.4, 40, 0.95);
        var half = 1.959963984540054 * Math.Sqrt((1 + 0.16 / 2) / 37);
        Assert.Equal(Math.Tanh(Math.Atanh(0.4) - half), lower, 12);
        Assert.Equal(Math.Tanh(Math.Atanh(0.4) + half), upper, 12);
    }

    [Fact]
    public void Degenerate_inputs_are_named_not_silently_NaN()
    {
        Assert.Contains("more than 3", Assert.Throws<DegenerateDataException>(() => FisherZ.CompareIndependent(0.5, 3, 0.2, 40)).Message);
        Assert.Contains("r = 1", Assert.Throws<DegenerateDataException>(() => FisherZ.CompareIndependent(1.0, 30, 0.2, 40)).Message);
        Assert.Throws<DegenerateDataException>(() => FisherZ.Homogeneity([0.3], [40]));
        var (lower, upper) = FisherZ.Interval(0.3, 3, 0, 0.95);
        Assert.True(double.IsNaN(lower) && double.IsNaN(upper)); // the analyses attach a note to these
    }
}
