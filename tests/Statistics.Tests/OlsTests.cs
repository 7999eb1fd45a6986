using BiasBench.Statistics.Tests.Support;

namespace BiasBench.Statistics.Tests;

public class OlsTests(ITestOutputHelper output)
{
    [Fact]
    public void CelebaOlsOnAllAttributesMatchesStatsmodels()
    {
        var celeba = StatsInputs.Expected().GetProperty("celeba");
        var attributes = celeba.GetProperty("attributes").EnumerateArray().Select(a => a.GetString()!).ToArray();
        var table = StatsInputs.Celeba();
        var design = OlsDesign.Create(attributes.Select(a => table[a]).ToArray(), attributes);
        var check = new Agreement(output, "celeba OLS");
        foreach (var reward in celeba.GetProperty("ols_all_attributes").EnumerateObject())
        {
            var fit = design.Fit(table[reward.Name]);
            var e = reward.Value;
            Assert.Null(fit.Hc3Unavailable);
            foreach (var (key, values) in new[] { ("params", fit.Params), ("bse", fit.Se), ("bse_hc3", fit.SeHc3!), ("pvalues", fit.P) })
                foreach (var coefficient in e.GetProperty(key).EnumerateObject())
                {
                    int index = fit.IndexOf(coefficient.Name);
                    string at = $"{reward.Name} {key}[{coefficient.Name}]";
                    if (key == "pvalues") check.PValue(at, coefficient.Value.GetDouble(), values[index]);
                    else check.Value(at, coefficient.Value.GetDouble(), values[index]);
                }
            check.Value(reward.Name + " rsquared", e.GetProperty("rsquared").GetDouble(), fit.RSquared);
            check.Value(reward.Name + " rsquared_adj", e.GetProperty("rsquared_adj").GetDouble(), fit.AdjRSquared);
            check.Value(reward.Name + " df_resid", e.GetProperty("df_resid").GetDouble(), fit.DfResid);
        }
        check.Check();
    }

    [Fact]
    public void OneShotFitEqualsDesignFit()
    {
        var rng = new Random(3);
        int n = 200;
        var a = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var b = Enumerable.Range(0, n).Select(_ => (double)rng.Next(2)).ToArray();
        var y = Enumerable.Range(0, n).Select(i => 1 + 2 * a[i] - 3 * b[i] + rng.NextDouble()).ToArray();
        var fit = Ols.Fit(y, new[] { a, b }, new[] { "a", "b" });
        Assert.Equal(new[] { "const", "a", "b" }, fit.Names);
        Assert.Equal(2.0, fit["a"].Estimate, 0.5);
        Assert.Equal(-3.0, fit["b"].Estimate, 0.3);
        Assert.Equal(n - 3, fit.DfResid);
        Assert.NotNull(fit["b"].SeHc3);
    }

    [Fact]
    public void ExactSmallProblemHasKnownSolution()
    {
        var x = new double[] { 0, 1, 2, 3, 4 };
        var y = new double[] { 2, 3, 5, 7, 8 };
        var fit = Ols.Fit(y, new[] { x }, new[] { "x" });
        // Closed form: slope = Sxy/Sxx = 16/10, intercept = mean(y) - slope*mean(x) = 5 - 3.2.
        Assert.Equal(1.6, fit["x"].Estimate, 12);
        Assert.Equal(1.8, fit["const"].Estimate, 12);
        // Residuals 0.2, -0.4, 0, 0.4, -0.2: SSR = 0.4, sigma^2 = 0.4/3, Var(slope) = sigma^2/Sxx.
        Assert.Equal(0.4, fit.Ssr, 12);
        Assert.Equal(Math.Sqrt(0.4 / 3 / 10), fit["x"].Se, 12);
        Assert.Equal(1 - 0.4 / 26.0, fit.RSquared, 12);
    }

    [Fact]
    public void PerfectCollinearityNamesTheColumns()
    {
        var rng = new Random(11);
        int n = 100;
        var male = Enumerable.Range(0, n).Select(_ => (double)rng.Next(2)).ToArray();
        var female = male.Select(v => 1 - v).ToArray();
        var other = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var constant = Enumerable.Repeat(3.0, n).ToArray();
        var y = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var error = Assert.Throws<DegenerateDataException>(() =>
            Ols.Fit(y, new[] { male, other, female, constant }, new[] { "Male", "Other", "Female", "Constant" }));
        Assert.Equal(new[] { "Female", "Constant" }, error.OffendingColumns);
        Assert.Contains("Female = ", error.Message);
        Assert.Contains("const", error.Message);
    }

    [Fact]
    public void DegenerateOutcomesAndSizesAreRejected()
    {
        var x = new double[] { 0, 1, 2, 3, 4 };
        Assert.Throws<DegenerateDataException>(() => Ols.Fit(new double[] { 1, 1, 1, 1, 1 }, new[] { x }));
        Assert.Throws<DegenerateDataException>(() => Ols.Fit(x.Select(v => 2 * v + 1).ToArray(), new[] { x }));
        Assert.Throws<DegenerateDataException>(() => Ols.Fit(new double[] { 1, 2 }, new[] { new double[] { 0, 1 } }));
        var zero = new double[5];
        var error = Assert.Throws<DegenerateDataException>(() => Ols.Fit(new double[] { 1, 3, 2, 5, 4 }, new[] { x, zero }, new[] { "x", "z" }));
        Assert.Contains("all zeros", error.Message);
    }

    [Fact]
    public void LeverageOneMakesHc3ExplicitlyUnavailable()
    {
        // A dummy that is 1 in a single row fits that row exactly: h = 1, HC3 undefined.
        var x = new double[] { 0.1, 0.4, 0.2, 0.9, 0.5, 0.7 };
        var dummy = new double[] { 0, 0, 0, 0, 0, 1 };
        var y = new double[] { 1, 2, 1.5, 3, 2.2, 9 };
        var fit = Ols.Fit(y, new[] { x, dummy }, new[] { "x", "dummy" });
        Assert.Null(fit.SeHc3);
        Assert.Contains("leverage", fit.Hc3Unavailable);
        Assert.All(fit.Se, s => Assert.True(s > 0));
    }
}
