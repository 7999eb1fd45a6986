using System.Globalization;
using System.Text.Json;
using BiasBench.Statistics.Tests.Support;

namespace BiasBench.Statistics.Tests;

public class PairedTestsTests(ITestOutputHelper output)
{
    [Fact]
    public void HackathonPairedTTestAndWilcoxonMatchScipy()
    {
        var check = new Agreement(output, "hackathon paired tests");
        int compared = 0;
        foreach (var (file, expected, rows) in HackathonData.All())
            foreach (var reward in expected.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
                foreach (var pair in reward.Value.EnumerateObject().Where(p => p.Name.StartsWith("paired_", StringComparison.Ordinal)))
                {
                    // 'paired_A_vs_B' compares condition A with condition B (differences A - B), paired by seed.
                    var parts = pair.Name["paired_".Length..].Split("_vs_");
                    double a = double.Parse(parts[0], CultureInfo.InvariantCulture), b = double.Parse(parts[1], CultureInfo.InvariantCulture);
                    var seeds = HackathonData.CommonSeeds(rows, a, b);
                    var first = HackathonData.BySeed(rows, reward.Name, a, seeds);
                    var second = HackathonData.BySeed(rows, reward.Name, b, seeds);
                    var e = pair.Value;
                    string at = $"{file} {reward.Name} {pair.Name}";
                    Assert.Equal(e.GetProperty("n_pairs").GetInt32(), seeds.Length);
                    var t = PairedTests.TTest(first, second);
                    check.Value(at + " mean_diff", e.GetProperty("mean_diff").GetDouble(), t.MeanDifference);
                    check.Value(at + " t", e.GetProperty("t").GetDouble(), t.T);
                    check.PValue(at + " t_p", e.GetProperty("t_p").GetDouble(), t.P);
                    var w = PairedTests.Wilcoxon(first, second);
                    check.Value(at + " wilcoxon_W", e.GetProperty("wilcoxon_W").GetDouble(), w.W);
                    check.PValue(at + " wilcoxon_p", e.GetProperty("wilcoxon_p").GetDouble(), w.P);
                    compared++;
                }
        output.WriteLine($"{compared} condition pairs compared.");
        check.Check();
    }

    [Fact]
    public void WilcoxonExactMatchesScipyDocumentationExample()
    {
        // scipy.stats.wilcoxon docs: these 15 differences give statistic 24 and exact p 0.041259765625.
        var d = new double[] { 6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75 };
        var result = PairedTests.Wilcoxon(d, new double[d.Length]);
        Assert.Equal(WilcoxonMethod.Exact, result.Method);
        Assert.Equal(24.0, result.W);
        Assert.Equal(0.041259765625, result.P, 12);
        Assert.Null(result.Z);
    }

    [Fact]
    public void WilcoxonExactDistributionIsSymmetricAndSumsToOne()
    {
        // n = 3: W+ takes 0..6 with counts 1,1,1,2,1,1,1 over 8 sign patterns; W+ = 0 -> two-sided p = 2/8.
        var result = PairedTests.Wilcoxon(new double[] { -1, -2, -3 }, new double[3]);
        Assert.Equal(0.25, result.P, 15);
        Assert.Equal(0.0, result.W);
        var middle = PairedTests.Wilcoxon(new double[] { 1, 2, -3 }, new double[3]); // W+ = 3: P(<=3) = 5/8 -> p = 1
        Assert.Equal(1.0, middle.P, 15);
    }

    [Fact]
    public void AllEqualPairsAreDegenerate()
    {
        var a = new double[] { 1, 2, 3, 4 };
        Assert.Throws<DegenerateDataException>(() => PairedTests.Wilcoxon(a, a));
        var error = Assert.Throws<DegenerateDataException>(() => PairedTests.TTest(a, a));
        Assert.Contains("all pairs are equal", error.Message);
        Assert.Throws<DegenerateDataException>(() => PairedTests.TTest(a, a.Select(v => v + 1).ToArray()));
    }

    [Fact]
    public void WilcoxonDropsZeroDifferencesAndUsesNormalWithTies()
    {
        var a = new double[] { 1, 2, 3, 4, 5, 6, 7 };
        var b = new double[] { 1, 1, 1, 2, 2, 8, 8 }; // d = 0,1,2,2,3,-2,-1: one zero, ties
        var result = PairedTests.Wilcoxon(a, b);
        Assert.Equal(6, result.N);
        Assert.Equal(1, result.ZeroDifferences);
        Assert.Equal(WilcoxonMethod.Normal, result.Method);
        // |d| = 1,2,2,3,2,1 -> ranks 1.5,4,4,6,4,1.5; W- = 4 + 1.5 = 5.5 (d = -2, -1); W+ = 15.5.
        Assert.Equal(5.5, result.W);
        Assert.NotNull(result.Z);
    }
}
