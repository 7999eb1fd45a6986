using BiasBench.Statistics.Tests.Support;

namespace BiasBench.Statistics.Tests;

public class AnovaTests(ITestOutputHelper output)
{
    [Fact]
    public void ScutOneWayAnovaMatchesScipy()
    {
        var scut = StatsInputs.Expected().GetProperty("scut");
        var groups = RankTestsTests.ScutGroups();
        var result = Anova.OneWay(groups.Select(g => g.Value).ToArray());
        var check = new Agreement(output, "SCUT ANOVA");
        check.Value("anova_F", scut.GetProperty("anova_F").GetDouble(), result.F);
        check.Check();
        Assert.Equal(groups.Count - 1, result.DfBetween);
        Assert.True(result.P < 1e-20 && result.P > 0);
    }

    [Fact]
    public void ConstantGroupsAreDegenerate()
    {
        Assert.Throws<DegenerateDataException>(() => Anova.OneWay(new double[] { 1, 1 }, new double[] { 2, 2 }));
        Assert.Throws<ArgumentException>(() => Anova.OneWay(new double[] { 1, 2 }));
    }

    [Fact]
    public void HandComputedCase()
    {
        // Groups {1,2,3} and {4,5,6}: SSB = 2*3*1.5^2 = 13.5, SSW = 4, F = 13.5 / (4/4) = 13.5.
        var result = Anova.OneWay(new double[] { 1, 2, 3 }, new double[] { 4, 5, 6 });
        Assert.Equal(13.5, result.F, 12);
        // F(1, 4) = t^2 with 4 df: p equals the two-sided t p-value of t = sqrt(13.5).
        Assert.Equal(Distributions.StudentTTwoSided(Math.Sqrt(13.5), 4), result.P, 12);
    }
}
