using BiasBench.Statistics.Tests.Support;

namespace BiasBench.Statistics.Tests;

public class MultipleTestingTests(ITestOutputHelper output)
{
    [Fact]
    public void CelebaPearsonQValuesMatchStatsmodelsFdrBhPerReward()
    {
        var expected = StatsInputs.Expected().GetProperty("celeba").GetProperty("correlation");
        var table = StatsInputs.Celeba();
        var check = new Agreement(output, "celeba BH q-values");
        foreach (var reward in expected.EnumerateObject())
        {
            // The family is one reward against every attribute.
            var attributes = reward.Value.EnumerateObject().ToArray();
            var p = attributes.Select(a => Correlation.Pearson(table[reward.Name], table[a.Name]).P).ToArray();
            var q = MultipleTesting.BenjaminiHochberg(p);
            for (int i = 0; i < attributes.Length; i++)
                check.PValue($"{reward.Name}~{attributes[i].Name} q", attributes[i].Value.GetProperty("pearson_q_bh").GetDouble(), q[i]);
        }
        check.Check();
    }

    [Fact]
    public void BenjaminiHochbergHandComputedCase()
    {
        // Sorted p: .01 .02 .03 .04 .2 with m = 5: raw p*m/rank = .05 .05 .05 .05 .2; monotone from the top.
        var q = MultipleTesting.BenjaminiHochberg(new[] { 0.2, 0.04, 0.01, 0.03, 0.02 });
        Assert.Equal(new[] { 0.2, 0.05, 0.05, 0.05, 0.05 }, q.Select(v => Math.Round(v, 12)));
        Assert.Equal(new[] { 1.0 }, MultipleTesting.BenjaminiHochberg(new[] { 1.0 }));
        Assert.Throws<DegenerateDataException>(() => MultipleTesting.BenjaminiHochberg(new[] { 0.1, double.NaN }));
    }
}
