using BiasBench.Statistics.Tests.Support;

namespace BiasBench.Statistics.Tests;

public class EffectSizeTests(ITestOutputHelper output)
{
    [Fact]
    public void CelebaCohensDOfAttractiveMatchesFixture()
    {
        var celeba = StatsInputs.Expected().GetProperty("celeba");
        var table = StatsInputs.Celeba();
        var check = new Agreement(output, "celeba Cohen's d");
        foreach (var property in celeba.EnumerateObject().Where(p => p.Name.StartsWith("cohens_d_", StringComparison.Ordinal)))
        {
            string attribute = Capitalised(property.Name["cohens_d_".Length..], table);
            foreach (var reward in property.Value.EnumerateObject())
                check.Value($"{reward.Name} d({attribute})", reward.Value.GetDouble(),
                    EffectSize.CohensDByBinaryGroup(table[reward.Name], table[attribute]));
        }
        check.Check();
    }

    private static string Capitalised(string key, Dictionary<string, double[]> table)
        => table.Keys.Single(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));

    [Fact]
    public void HandComputedCase()
    {
        // means 3 and 5, sample variances 2.5 and 2.5 -> pooled sd sqrt(2.5), d = -2/sqrt(2.5).
        Assert.Equal(-2 / Math.Sqrt(2.5), EffectSize.CohensD(new double[] { 1, 2, 3, 4, 5 }, new double[] { 3, 4, 5, 6, 7 }), 12);
        Assert.Throws<DegenerateDataException>(() => EffectSize.CohensD(new double[] { 1, 1 }, new double[] { 2, 2 }));
        Assert.Throws<DegenerateDataException>(() => EffectSize.CohensDByBinaryGroup(new double[] { 1, 2, 3 }, new double[] { 0, 2, 1 }));
    }
}
