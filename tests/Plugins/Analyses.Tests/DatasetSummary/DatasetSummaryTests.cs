using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.DatasetSummary;
using BiasBench.Plugins.Analyses.Tests.Support;
using BiasBench.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.DatasetSummary;

public class DatasetSummaryTests
{
    [Fact]
    public async Task Scut_groups_match_scipy()
    {
        var expected = Fixtures.Json("stats/expected_stats.json").RootElement.GetProperty("scut");
        var lines = File.ReadAllLines(Fixtures.Data("scut_fbp5500/All_labels.txt")).Where(l => l.Trim().Length > 0).ToArray();
        var files = lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray();
        var table = new DataTable("scut")
            .Add("image_id", files.Select(f => (string?)f[0]).ToArray())
            .Add("group", files.Select(f => (string?)f[0][..2]).ToArray())
            .Add("beauty", files.Select(f => double.Parse(f[1], CultureInfo.InvariantCulture)).ToArray());
        var result = await new DatasetSummaryAnalysis(new DatasetSummaryOptions())
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["scut"] = table }), NullLogger.Instance, TestContext.Current.CancellationToken);
        var summary = result.Tables.Single(t => t.Name == "group_summary");
        var tests = result.Tables.Single(t => t.Name == "group_tests");
        var all = Expect.Row(summary, ("group", "(all)"));
        Assert.Equal(expected.GetProperty("n").GetInt32(), (int)summary.Numeric("n")[all]);
        Expect.Close(expected.GetProperty("mean").GetDouble(), summary.Numeric("mean")[all], "mean");
        foreach (var g in expected.GetProperty("by_group_mean").EnumerateObject())
            Expect.Close(g.Value.GetDouble(), summary.Numeric("mean")[Expect.Row(summary, ("group", g.Name))], $"mean {g.Name}");
        Expect.Close(expected.GetProperty("anova_F").GetDouble(), tests.Numeric("anova_f")[0], "ANOVA F");
        Expect.Close(expected.GetProperty("kruskal_H").GetDouble(), tests.Numeric("kruskal_h")[0], "Kruskal H");
        // The table's sd is the sample standard deviation (ddof = 1, pandas' default), and so is the fixture's 'std'.
        Expect.Close(expected.GetProperty("std").GetDouble(), summary.Numeric("sd")[all], "std (ddof=1)");
        Assert.Contains("ddof=1", summary.Caption, StringComparison.Ordinal);
        var effects = Fixtures.Json("stats/expected_effects.json").RootElement.GetProperty("scut");
        Assert.Equal(effects.GetProperty("n").GetInt32(), (int)tests.Numeric("n")[0]);
        Expect.Close(effects.GetProperty("eta_squared").GetDouble(), tests.Numeric("eta_squared")[0], "eta squared");
        Assert.Single(result.Findings);
    }

    [Fact]
    public async Task A_constant_value_column_gets_a_note_not_a_silent_NaN()
    {
        var table = new DataTable("t").Add("group", new string?[] { "a", "a", "b", "b" }).Add("beauty", new[] { 1.0, 1.0, 1.0, 1.0 });
        var result = await new DatasetSummaryAnalysis(new DatasetSummaryOptions())
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["t"] = table }), NullLogger.Instance, TestContext.Current.CancellationToken);
        var tests = result.Tables.Single(t => t.Name == "group_tests");
        Assert.False(string.IsNullOrEmpty(tests.Text("note")[0]));
        Assert.Contains("no ANOVA", result.Findings.Single().Text);
    }
}
