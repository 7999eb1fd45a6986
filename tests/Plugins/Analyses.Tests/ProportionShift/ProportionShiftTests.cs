using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.ProportionShift;
using BiasBench.Plugins.Analyses.Tests.Support;
using BiasBench.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.ProportionShift;

public class ProportionShiftTests
{
    [Fact]
    public async Task Counts_table_matches_statsmodels_for_every_fixture_case()
    {
        var cases = Fixtures.Json("stats/expected_stats.json").RootElement.GetProperty("two_proportion").EnumerateArray().ToList();
        Assert.NotEmpty(cases);
        var table = new DataTable("counts")
            .Add("label", cases.Select((_, i) => (string?)$"case {i}").ToArray())
            .Add("before", cases.Select(c => (double)c.GetProperty("before").GetInt64()).ToArray())
            .Add("n_before", cases.Select(c => (double)c.GetProperty("n_before").GetInt64()).ToArray())
            .Add("after", cases.Select(c => (double)c.GetProperty("after").GetInt64()).ToArray())
            .Add("n_after", cases.Select(c => (double)c.GetProperty("n_after").GetInt64()).ToArray());
        var result = await Run(table, new ProportionShiftOptions());
        var t = result.Tables.Single();
        for (var i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            Expect.Close(c.GetProperty("z").GetDouble(), t.Numeric("z")[i], $"case {i} z");
            Expect.Close(c.GetProperty("p").GetDouble(), t.Numeric("p")[i], $"case {i} p", isPValue: true);
            var w = c.GetProperty("wilson_after").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Expect.Close(w[0], t.Numeric("wilson_after_low")[i], $"case {i} Wilson low");
            Expect.Close(w[1], t.Numeric("wilson_after_high")[i], $"case {i} Wilson high");
            var d = c.GetProperty("newcombe_diff").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Expect.Close(d[0], t.Numeric("newcombe_low")[i], $"case {i} Newcombe low");
            Expect.Close(d[1], t.Numeric("newcombe_high")[i], $"case {i} Newcombe high");
        }
        Assert.Equal(cases.Count, result.Findings.Count);
        Assert.Single(result.Figures);
    }

    [Fact]
    public async Task Per_item_rows_are_counted_by_phase_and_by_model()
    {
        // 10 items per phase and model; after fine-tuning more are judged attractive.
        var phase = new List<string?>(); var model = new List<string?>(); var verdict = new List<string?>();
        foreach (var m in new[] { "hps", "pick" })
        foreach (var p in new[] { "before", "after" })
            for (var i = 0; i < 10; i++)
            {
                phase.Add(p); model.Add(m);
                verdict.Add(i < (p == "before" ? 3 : m == "hps" ? 8 : 4) ? "attractive" : "unattractive");
            }
        var table = new DataTable("judged").Add("phase", phase.ToArray()).Add("model", model.ToArray()).Add("verdict", verdict.ToArray());
        var result = await Run(table, new ProportionShiftOptions { OutcomeColumn = "verdict", PositiveLabel = "attractive", By = "model" });
        var t = result.Tables.Single();
        Assert.Equal(new[] { "hps", "pick" }, t.Text("label").Values.Select(v => v!).ToArray());
        Assert.Equal([3.0, 3.0], t.Numeric("count_before").Values);
        Assert.Equal([8.0, 4.0], t.Numeric("count_after").Values);
        Assert.True(t.Numeric("p")[0] < 0.05 && t.Numeric("p")[1] > 0.5);
    }

    [Fact]
    public async Task Text_outcome_without_positive_label_and_missing_phase_are_explained()
    {
        var table = new DataTable("judged").Add("phase", new string?[] { "before", "before" }).Add("verdict", new string?[] { "yes", "no" });
        var e1 = await Assert.ThrowsAsync<InvalidDataException>(() => Run(table, new ProportionShiftOptions { OutcomeColumn = "verdict" }));
        Assert.Contains("positive_label", e1.Message);
        var e2 = await Assert.ThrowsAsync<InvalidDataException>(() => Run(table, new ProportionShiftOptions { OutcomeColumn = "verdict", PositiveLabel = "yes" }));
        Assert.Contains("phase = 'after'", e2.Message);
    }

    private static Task<AnalysisResult> Run(DataTable t, ProportionShiftOptions o) =>
        new ProportionShiftAnalysis(o).RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["in"] = t }), NullLogger.Instance, TestContext.Current.CancellationToken);
}
