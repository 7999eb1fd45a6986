using System.Globalization;
using System.Text.Json;
using BiasBench.Statistics.Tests.Support;
using BiasBench.TestSupport;

namespace BiasBench.Statistics.Tests;

public class RankTestsTests(ITestOutputHelper output)
{
    [Fact]
    public void HackathonFriedmanMatchesScipy()
    {
        var check = new Agreement(output, "hackathon Friedman");
        foreach (var (file, expected, rows) in HackathonData.All())
        {
            var conditions = rows.Select(r => r.Condition).Distinct().OrderBy(c => c).ToArray();
            var seeds = HackathonData.CommonSeeds(rows, conditions);
            foreach (var reward in expected.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
            {
                var result = RankTests.Friedman(conditions.Select(c => HackathonData.BySeed(rows, reward.Name, c, seeds)).ToArray());
                check.Value($"{file} {reward.Name} friedman_chi2", reward.Value.GetProperty("friedman_chi2").GetDouble(), result.Statistic);
                check.PValue($"{file} {reward.Name} friedman_p", reward.Value.GetProperty("friedman_p").GetDouble(), result.P);
                Assert.Equal(conditions.Length - 1, result.Df);
            }
        }
        check.Check();
    }

    [Fact]
    public void ScutKruskalWallisMatchesScipy()
    {
        var scut = StatsInputs.Expected().GetProperty("scut");
        var groups = ScutGroups();
        var result = RankTests.KruskalWallis(groups.Select(g => g.Value).ToArray());
        var check = new Agreement(output, "SCUT Kruskal-Wallis");
        check.Value("kruskal_H", scut.GetProperty("kruskal_H").GetDouble(), result.Statistic);
        check.Check();
        Assert.True(result.P < 1e-20);
    }

    internal static List<KeyValuePair<string, double[]>> ScutGroups()
    {
        var labels = StatsInputs.ReadScut(Fixtures.Data("scut_fbp5500/All_labels.txt"));
        return Descriptive.GroupBy(labels.Select(l => l.Score).ToArray(), labels.Select(l => l.Group).ToArray()).ToList();
    }

    [Fact]
    public void FriedmanHandComputedWithTies()
    {
        // 2 blocks x 3 conditions: block ranks (1,2,3) and (1.5,1.5,3): R = 2.5, 3.5, 6; sum R^2 = 54.5.
        // chi2 = (12/(2*3*4) * 54.5 - 3*2*4) / (1 - 6/(2*3*8)) = (27.25 - 24) / 0.875.
        var result = RankTests.Friedman(new double[] { 1, 5 }, new double[] { 2, 5 }, new double[] { 3, 9 });
        Assert.Equal(3.25 / 0.875, result.Statistic, 12);
        Assert.Throws<DegenerateDataException>(() => RankTests.Friedman(new double[] { 1, 1 }, new double[] { 1, 1 }, new double[] { 1, 1 }));
        Assert.Throws<ArgumentException>(() => RankTests.Friedman(new double[] { 1, 2 }, new double[] { 2, 1 }));
    }

    [Fact]
    public void KruskalWallisOfIdenticalValuesIsDegenerate()
    {
        Assert.Throws<DegenerateDataException>(() => RankTests.KruskalWallis(new double[] { 2, 2 }, new double[] { 2, 2, 2 }));
        Assert.Throws<DegenerateDataException>(() => RankTests.KruskalWallis(new double[] { 2, 3 }, Array.Empty<double>()));
    }
}
