using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using BiasBench.Statistics;
using Microsoft.Extensions.Logging;
using ScottPlot;

namespace BiasBench.Plugins.Analyses.DatasetSummary;

public sealed class DatasetSummaryOptions
{
    /// <summary>Numeric columns to summarise (e.g. beauty, or reward scores).</summary>
    [Required, MinLength(1)] public List<string> Values { get; set; } = ["beauty"];

    /// <summary>Grouping column (e.g. SCUT-FBP5500's AF/AM/CF/CM).</summary>
    [Required] public string GroupColumn { get; set; } = "group";

    [Range(0.5, 0.9999)] public double Confidence { get; set; } = 0.95;
}

/// <summary>Group means and spread, one-way ANOVA F and Kruskal-Wallis H per value column.</summary>
public sealed class DatasetSummaryAnalysis(DatasetSummaryOptions options) : IAnalysis
{
    public string Name => "dataset-summary";

    public Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken)
    {
        var result = new AnalysisResult();
        var table = InputTables.SingleOrJoined(inputs, Name, "image_id", result.Warnings);
        if (!table.Contains(options.GroupColumn))
            throw new InvalidDataException($"Table '{table.Name}' has no group column '{options.GroupColumn}' (columns: {string.Join(", ", table.Columns.Select(c => c.Name))}).");
        var group = table[options.GroupColumn];
        var labels = Enumerable.Range(0, table.RowCount).Select(r => group.FormatCell(r)).ToArray();
        var groups = labels.Where(l => l is not null).Distinct().OrderBy(l => l, StringComparer.Ordinal).Select(l => l!).ToList();

        var summary = new List<(string Value, string Group, double[] X)>();
        var tests = new List<(string Value, int K, int N, AnovaResult? F, ChiSquareTestResult? H, double Eta2, string? Note)>();
        var panels = new List<Plot>();
        foreach (var value in options.Values)
        {
            if (!table.Contains(value) || !table[value].IsNumeric)
                throw new InvalidDataException($"Value column '{value}' is missing or not numeric in '{table.Name}'.");
            var v = table.Numeric(value).Values;
            var all = Enumerable.Range(0, v.Length).Where(r => !double.IsNaN(v[r]) && labels[r] is not null).ToList();
            if (all.Count < v.Length)
                result.Warnings.Add($"{value}: {v.Length - all.Count} row(s) with a missing value or group left out.");
            var byGroup = groups.Select(g => all.Where(r => labels[r] == g).Select(r => v[r]).ToArray()).ToList();
            summary.Add((value, "(all)", all.Select(r => v[r]).ToArray()));
            for (var k = 0; k < groups.Count; k++) summary.Add((value, groups[k], byGroup[k]));

            AnovaResult? f = null; ChiSquareTestResult? h = null; string? note = null; double eta = double.NaN;
            try { f = Anova.OneWay(byGroup); eta = f.SsBetween / (f.SsBetween + f.SsWithin); }
            catch (Exception e) when (e is DegenerateDataException or ArgumentException) { note = "ANOVA: " + e.Message; }
            try { h = RankTests.KruskalWallis(byGroup); }
            catch (Exception e) when (e is DegenerateDataException or ArgumentException) { note = (note + " Kruskal-Wallis: " + e.Message).Trim(); }
            tests.Add((value, groups.Count, all.Count, f, h, eta, note));
            panels.Add(MeansPlot(value, groups, byGroup));

            var best = groups[Enumerable.Range(0, groups.Count).MaxBy(k => byGroup[k].Length > 0 ? byGroup[k].Average() : double.NegativeInfinity)];
            result.Findings.Add(new Finding(
                $"{value} by {options.GroupColumn}: " + string.Join(", ", groups.Select((g, k) => $"{g} {Format.Num(byGroup[k].Length > 0 ? byGroup[k].Average() : double.NaN)}")) +
                $" (highest: {best}); " +
                (f is null ? $"no ANOVA ({note})" : $"ANOVA F={Format.Num(f.F, 4)} ({Format.P(f.P)}, η²={Format.Num(eta, 2)})") +
                (h is null ? "" : $", Kruskal-Wallis H={Format.Num(h.Statistic, 4)} ({Format.P(h.P)})") + "."));
        }

        result.Tables.Add(new DataTable("group_summary") { Caption = "Per group: n, mean, sd (ddof=1), median, min, max." }
            .Add("value", summary.Select(s => (string?)s.Value).ToArray())
            .Add("group", summary.Select(s => (string?)s.Group).ToArray())
            .Add("n", summary.Select(s => (double)s.X.Length).ToArray())
            .Add("mean", summary.Select(s => s.X.Length > 0 ? Descriptive.Mean(s.X) : double.NaN).ToArray())
            .Add("sd", summary.Select(s => s.X.Length > 1 ? Descriptive.StandardDeviation(s.X) : double.NaN).ToArray())
            .Add("median", summary.Select(s => Median(s.X)).ToArray())
            .Add("min", summary.Select(s => s.X.Length > 0 ? s.X.Min() : double.NaN).ToArray())
            .Add("max", summary.Select(s => s.X.Length > 0 ? s.X.Max() : double.NaN).ToArray()));
        result.Tables.Add(new DataTable("group_tests") { Caption = "One-way ANOVA (F, eta squared) and Kruskal-Wallis H (tie-corrected) across groups." }
            .Add("value", tests.Select(t => (string?)t.Value).ToArray())
            .Add("groups", tests.Select(t => (double)t.K).ToArray())
            .Add("n", tests.Select(t => (double)t.N).ToArray())
            .Add("anova_f", tests.Select(t => t.F?.F ?? double.NaN).ToArray())
            .Add("anova_p", tests.Select(t => t.F?.P ?? double.NaN).ToArray())
            .Add("eta_squared", tests.Select(t => t.Eta2).ToArray())
            .Add("kruskal_h", tests.Select(t => t.H?.Statistic ?? double.NaN).ToArray())
            .Add("kruskal_p", tests.Select(t => t.H?.P ?? double.NaN).ToArray())
            .Add("note", tests.Select(t => t.Note).ToArray()));
        result.Figures.Add(FigureGrid.Render("group-means", $"Mean by {options.GroupColumn} with {options.Confidence:P0} t intervals.", panels));
        logger.LogInformation("dataset-summary: {Values} value column(s) x {Groups} groups", options.Values.Count, groups.Count);
        return Task.FromResult(result);
    }

    private Plot MeansPlot(string value, List<string> groups, List<double[]> byGroup)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (var k = 0; k < groups.Count; k++)
        {
            var x = byGroup[k];
            if (x.Length == 0) continue;
            var mean = Descriptive.Mean(x);
            var half = x.Length > 1 ? MathNet.Numerics.Distributions.StudentT.InvCDF(0, 1, x.Length - 1, 1 - (1 - options.Confidence) / 2) * Descriptive.StandardDeviation(x) / Math.Sqrt(x.Length) : 0;
            plot.Add.Bar(new Bar { Position = k, Value = mean, Error = half, FillColor = palette.GetColor(k) });
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(groups.Select((g, k) => new Tick(k, g)).ToArray());
        plot.Title($"{value} by {options.GroupColumn}", size: 13);
        plot.YLabel(value);
        return plot;
    }

    private static double Median(double[] x)
    {
        if (x.Length == 0) return double.NaN;
        var s = x.OrderBy(v => v).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
