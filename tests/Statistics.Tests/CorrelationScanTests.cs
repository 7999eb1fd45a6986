using BiasBench.Statistics.Tests.Support;

namespace BiasBench.Statistics.Tests;

public class CorrelationScanTests(ITestOutputHelper output)
{
    [Fact]
    public void CelebaScanMatchesScipyFixture()
    {
        var celeba = StatsInputs.Expected().GetProperty("celeba");
        var expected = celeba.GetProperty("correlation");
        var table = StatsInputs.Celeba();
        var rewards = expected.EnumerateObject().Select(p => p.Name).ToArray();
        var attributes = celeba.GetProperty("attributes").EnumerateArray().Select(a => a.GetString()!).ToArray();
        var scan = CorrelationScan.Run(rewards.Select(r => table[r]).ToArray(), attributes.Select(a => table[a]).ToArray(), rewards, attributes);
        var check = new Agreement(output, "celeba correlation scan");
        for (int t = 0; t < rewards.Length; t++)
            for (int f = 0; f < attributes.Length; f++)
            {
                var e = expected.GetProperty(rewards[t]).GetProperty(attributes[f]);
                string at = $"{rewards[t]}~{attributes[f]}";
                Assert.Null(scan.Reasons[t][f]);
                check.Value(at + " pearson", e.GetProperty("pearson").GetDouble(), scan.Pearson[t][f]!.R);
                check.PValue(at + " pearson_p", e.GetProperty("pearson_p").GetDouble(), scan.Pearson[t][f]!.P);
                check.Value(at + " spearman", e.GetProperty("spearman").GetDouble(), scan.Spearman![t][f]!.R);
                check.PValue(at + " spearman_p", e.GetProperty("spearman_p").GetDouble(), scan.Spearman[t][f]!.P);
            }
        check.Check();
    }

    [Fact]
    public void ScanAgreesWithPairwiseFunctionsOnContinuousAndTiedFeatures()
    {
        var rng = new Random(9);
        int n = 500;
        var y = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 10 + 1000).ToArray();
        var continuous = y.Select(v => v * 0.01 + rng.NextDouble()).ToArray();
        var tied = Enumerable.Range(0, n).Select(_ => (double)rng.Next(5)).ToArray();
        var binary = Enumerable.Range(0, n).Select(i => y[i] > 1005 ^ rng.Next(4) == 0 ? 1.0 : 0.0).ToArray();
        var constant = Enumerable.Repeat(1.0, n).ToArray();
        var scan = CorrelationScan.Run(new[] { y }, new[] { continuous, tied, binary, constant }, null, new[] { "c", "t", "b", "k" });
        var features = new[] { continuous, tied, binary };
        for (int f = 0; f < features.Length; f++)
        {
            var p = Correlation.Pearson(y, features[f]);
            var s = Correlation.Spearman(y, features[f]);
            Assert.Equal(p.R, scan.Pearson[0][f]!.R, 1e-12);
            Assert.Equal(s.R, scan.Spearman![0][f]!.R, 1e-12);
            Assert.Equal(s.P, scan.Spearman[0][f]!.P, 1e-12);
        }
        Assert.Null(scan.Pearson[0][3]);
        Assert.Contains("'k' is constant", scan.Reasons[0][3]);
    }
}
