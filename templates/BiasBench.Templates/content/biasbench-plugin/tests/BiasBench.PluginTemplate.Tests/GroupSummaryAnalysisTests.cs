using BiasBench.Abstractions;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.PluginTemplate.Tests;

public class GroupSummaryAnalysisTests
{
    [Fact]
    public async Task Each_numeric_column_is_summarised_by_group_leaving_out_missing_values_and_the_seed()
    {
        var table = new DataTable("scores")
            .Add("condition", new string?[] { "a", "a", "b", "b", "b" })
            .Add("seed", new[] { 0.0, 1, 0, 1, 2 })
            .Add("score", new[] { 1.0, 3, 2, 4, double.NaN });
        var analysis = new GroupSummaryAnalysis(new GroupSummaryOptions());

        var result = await analysis.RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["scores"] = table }), NullLogger.Instance, TestContext.Current.CancellationToken);

        var summary = Assert.Single(result.Tables);
        Assert.Equal(new string?[] { "score", "score" }, summary.Text("column").Values);
        Assert.Equal(new string?[] { "a", "b" }, summary.Text("condition").Values);
        Assert.Equal(new[] { 2.0, 2.0 }, summary.Numeric("n").Values);
        Assert.Equal(new[] { 2.0, 3.0 }, summary.Numeric("mean").Values);
        Assert.Equal(Math.Sqrt(2), summary.Numeric("sd")[0], 12); // ((1-2)^2 + (3-2)^2) / (2-1) = 2
        Assert.Equal(Math.Sqrt(2), summary.Numeric("sd")[1], 12);
        Assert.Equal(new[] { 1.0, 2.0 }, summary.Numeric("min").Values);
        Assert.Equal(new[] { 3.0, 4.0 }, summary.Numeric("max").Values);
        Assert.Equal("score: 1 missing value(s) left out.", Assert.Single(result.Warnings));
        Assert.Equal("Mean score is highest for condition = b (3, n=2) and lowest for a (2, n=2).", Assert.Single(result.Findings).Text);
    }

    [Fact]
    public async Task A_missing_group_column_is_a_clear_error()
    {
        var table = new DataTable("scores").Add("score", new[] { 1.0 });
        var analysis = new GroupSummaryAnalysis(new GroupSummaryOptions { GroupBy = "generator" });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            analysis.RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["s"] = table }), NullLogger.Instance, TestContext.Current.CancellationToken));
        Assert.Equal("table 'scores' has no column 'generator' (group_by); it has score.", error.Message);
    }
}
