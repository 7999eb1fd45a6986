using BiasBench.Statistics.Tests.Support;
using BiasBench.TestSupport;

namespace BiasBench.Statistics.Tests;

public class LogisticRegressionTests(ITestOutputHelper output)
{
    [Fact]
    public void JudgedRealLogitMatchesStatsmodels()
    {
        var expected = StatsInputs.Expected().GetProperty("logit_judged_real");
        var table = StatsInputs.ReadNumericCsv(Fixtures.File("stats/logit_judged_real.csv"));
        var predictors = expected.GetProperty("params").EnumerateObject().Select(p => p.Name).Where(n => n != "const").ToArray();
        string outcome = table.Keys.Single(k => k != "const" && !predictors.Contains(k));
        var fit = LogisticRegression.Fit(table[outcome], predictors.Select(p => table[p]).ToArray(), predictors);
        var check = new Agreement(output, "logit " + outcome);
        foreach (var (key, values) in new[] { ("params", fit.Params), ("bse", fit.Se), ("pvalues", fit.P) })
            foreach (var coefficient in expected.GetProperty(key).EnumerateObject())
            {
                string at = $"{key}[{coefficient.Name}]";
                if (key == "pvalues") check.PValue(at, coefficient.Value.GetDouble(), values[fit.IndexOf(coefficient.Name)]);
                else check.Value(at, coefficient.Value.GetDouble(), values[fit.IndexOf(coefficient.Name)]);
            }
        check.Value("llf", expected.GetProperty("llf").GetDouble(), fit.LogLikelihood);
        foreach (var odds in expected.EnumerateObject().Where(p => p.Name.StartsWith("odds_ratio_", StringComparison.Ordinal)))
        {
            int index = fit.IndexOf(odds.Name["odds_ratio_".Length..]);
            check.Value(odds.Name, odds.Value.GetDouble(), fit.OddsRatios[index]);
            Assert.True(fit.OddsRatioLower[index] < fit.OddsRatios[index] && fit.OddsRatios[index] < fit.OddsRatioUpper[index]);
        }
        check.Check();
        output.WriteLine($"converged in {fit.Iterations} iterations");
    }

    [Fact]
    public void PerfectSeparationIsDetected()
    {
        var x = new double[] { 0, 1, 2, 3, 4, 5, 6, 7 };
        var y = new double[] { 0, 0, 0, 0, 1, 1, 1, 1 };
        var error = Assert.Throws<DegenerateDataException>(() => LogisticRegression.Fit(y, new[] { x }, new[] { "x" }));
        Assert.Contains("separation", error.Message);
        Assert.Contains("x", error.OffendingColumns);
    }

    [Fact]
    public void QuasiSeparationIsDetected()
    {
        // A dummy that is 1 only where y = 1 (but not every y = 1): quasi-complete separation.
        var rng = new Random(2);
        int n = 200;
        var y = Enumerable.Range(0, n).Select(_ => (double)rng.Next(2)).ToArray();
        var dummy = y.Select((v, i) => v == 1 && i % 3 == 0 ? 1.0 : 0.0).ToArray();
        var noise = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var error = Assert.Throws<DegenerateDataException>(() => LogisticRegression.Fit(y, new[] { noise, dummy }, new[] { "noise", "dummy" }));
        Assert.Contains("dummy", error.OffendingColumns);
    }

    [Fact]
    public void BadOutcomesAreRejected()
    {
        var x = new double[] { 0, 1, 2, 3 };
        Assert.Throws<DegenerateDataException>(() => LogisticRegression.Fit(new double[] { 0, 1, 2, 1 }, new[] { x }));
        Assert.Throws<DegenerateDataException>(() => LogisticRegression.Fit(new double[] { 1, 1, 1, 1 }, new[] { x }));
    }

    [Fact]
    public void InterceptOnlyModelGivesLogOddsOfTheRate()
    {
        // With a single balanced binary predictor, beta = log-odds ratio of the 2x2 table.
        var x = new double[] { 0, 0, 0, 0, 1, 1, 1, 1 };
        var y = new double[] { 0, 0, 0, 1, 0, 1, 1, 1 };
        var fit = LogisticRegression.Fit(y, new[] { x }, new[] { "x" });
        Assert.Equal(Math.Log(1.0 / 3), fit.Params[fit.IndexOf("const")], 8);
        Assert.Equal(Math.Log(9.0), fit.Params[fit.IndexOf("x")], 8);
        Assert.Equal(Math.Sqrt(1 + 1.0 / 3 + 1.0 / 3 + 1), fit.Se[fit.IndexOf("x")], 8);
    }
}
