using BiasBench.Statistics.Tests.Support;

namespace BiasBench.Statistics.Tests;

public class ProportionsTests(ITestOutputHelper output)
{
    [Fact]
    public void TwoProportionCasesMatchStatsmodels()
    {
        var check = new Agreement(output, "two-proportion cases");
        int i = 0;
        foreach (var c in StatsInputs.Expected().GetProperty("two_proportion").EnumerateArray())
        {
            int after = c.GetProperty("after").GetInt32(), nAfter = c.GetProperty("n_after").GetInt32();
            int before = c.GetProperty("before").GetInt32(), nBefore = c.GetProperty("n_before").GetInt32();
            string at = $"case {i++} ({after}/{nAfter} vs {before}/{nBefore})";
            var z = Proportions.TwoProportionZ(after, nAfter, before, nBefore);
            check.Value(at + " z", c.GetProperty("z").GetDouble(), z.Z);
            check.PValue(at + " p", c.GetProperty("p").GetDouble(), z.P);
            var wilson = Proportions.Wilson(after, nAfter);
            var expectedWilson = c.GetProperty("wilson_after").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            check.Value(at + " wilson lower", expectedWilson[0], wilson.Lower);
            check.Value(at + " wilson upper", expectedWilson[1], wilson.Upper);
            var newcombe = Proportions.NewcombeDifference(after, nAfter, before, nBefore);
            var expectedNewcombe = c.GetProperty("newcombe_diff").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            check.Value(at + " newcombe lower", expectedNewcombe[0], newcombe.Lower);
            check.Value(at + " newcombe upper", expectedNewcombe[1], newcombe.Upper);
        }
        check.Check();
    }

    [Fact]
    public void DegenerateProportionsAreRejected()
    {
        Assert.Throws<DegenerateDataException>(() => Proportions.TwoProportionZ(0, 10, 0, 20));
        Assert.Throws<DegenerateDataException>(() => Proportions.TwoProportionZ(10, 10, 20, 20));
        Assert.Throws<DegenerateDataException>(() => Proportions.Wilson(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Proportions.Wilson(11, 10));
        var zero = Proportions.Wilson(0, 10);
        Assert.Equal(0.0, zero.Lower, 12);
        Assert.True(zero.Upper > 0.2 && zero.Upper < 0.35);
    }
}
