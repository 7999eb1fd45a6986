using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.JudgeBias;
using BiasBench.Plugins.Analyses.Tests.Support;
using BiasBench.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.JudgeBias;

public class JudgeBiasTests
{
    [Fact]
    public async Task Logit_matches_statsmodels_on_the_fixture()
    {
        var expected = Fixtures.Json("stats/expected_stats.json").RootElement.GetProperty("logit_judged_real");
        var table = SmallCsv.ReadNumeric(Fixtures.File("stats/logit_judged_real.csv"));
        // The first column is the verdict; the others are the predictors (names must match the fixture's params).
        var verdict = table.Columns[0].Name;
        var predictors = table.Columns.Skip(1).Select(c => c.Name).ToList();
        var result = await new JudgeBiasAnalysis(new JudgeBiasOptions { VerdictColumn = verdict, Predictors = predictors })
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["judged"] = table }), NullLogger.Instance, TestContext.Current.CancellationToken);
        var coef = result.Tables.Single(t => t.Name == "judge_logit_coefficients");
        foreach (var p in expected.GetProperty("params").EnumerateObject())
        {
            var r = Expect.Row(coef, ("term", p.Name));
            Expect.Close(p.Value.GetDouble(), coef.Numeric("estimate")[r], $"param {p.Name}");
            Expect.Close(expected.GetProperty("bse").GetProperty(p.Name).GetDouble(), coef.Numeric("se")[r], $"bse {p.Name}");
            Expect.Close(expected.GetProperty("pvalues").GetProperty(p.Name).GetDouble(), coef.Numeric("p")[r], $"p {p.Name}", isPValue: true);
        }
        foreach (var or in expected.EnumerateObject().Where(p => p.Name.StartsWith("odds_ratio_", StringComparison.Ordinal)))
        {
            var r = Expect.Row(coef, ("term", or.Name["odds_ratio_".Length..]));
            Expect.Close(or.Value.GetDouble(), coef.Numeric("odds_ratio")[r], or.Name);
        }
        // 95% Wald intervals of the coefficients and of the odds ratios (expected_effects.json).
        var effects = Fixtures.Json("stats/expected_effects.json").RootElement.GetProperty("logit_judged_real");
        var intervals = 0;
        foreach (var (json, low, high) in new[] { ("params_ci95", "ci_low", "ci_high"), ("odds_ratio_ci95", "or_low", "or_high") })
        foreach (var term in effects.GetProperty(json).EnumerateObject())
        {
            var r = Expect.Row(coef, ("term", term.Name));
            Expect.Close(term.Value[0].GetDouble(), coef.Numeric(low)[r], $"{json} {term.Name} low");
            Expect.Close(term.Value[1].GetDouble(), coef.Numeric(high)[r], $"{json} {term.Name} high");
            intervals++;
        }
        Assert.Equal(2 * coef.RowCount, intervals);
        var fit = result.Tables.Single(t => t.Name == "judge_logit_fit");
        Expect.Close(expected.GetProperty("llf").GetDouble(), fit.Numeric("log_likelihood")[0], "llf");
        Assert.Contains(predictors[0], result.Findings.Single().Text);
        Assert.Single(result.Figures);
    }

    [Fact]
    public async Task Judgements_and_attributes_are_joined_by_image_id()
    {
        var rng = new Random(3);
        var n = 400;
        var attractive = Enumerable.Range(0, n).Select(_ => (double)rng.Next(2)).ToArray();
        var verdict = attractive.Select(a => rng.NextDouble() < (a == 1 ? 0.7 : 0.4) ? "real" : "ai-generated").ToArray<string?>();
        var judged = new DataTable("judge").Add("image_id", Enumerable.Range(0, n).Select(i => (string?)$"{i:000000}.jpg").ToArray()).Add("verdict", verdict);
        var attrs = new DataTable("attrs").Add("image_id", Enumerable.Range(0, n + 5).Select(i => (string?)$"{i:000000}").ToArray())
            .Add("Attractive", attractive.Concat(new double[5]).ToArray());
        var result = await new JudgeBiasAnalysis(new JudgeBiasOptions { VerdictColumn = "verdict", PositiveLabel = "real" })
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["judge"] = judged, ["attrs"] = attrs }), NullLogger.Instance, TestContext.Current.CancellationToken);
        var coef = result.Tables.Single(t => t.Name == "judge_logit_coefficients");
        Assert.True(coef.Numeric("odds_ratio")[Expect.Row(coef, ("term", "Attractive"))] > 1.5);
        Assert.Contains(result.Warnings, w => w.Contains("5 of 405 rows of 'attrs'", StringComparison.Ordinal));
    }
}
