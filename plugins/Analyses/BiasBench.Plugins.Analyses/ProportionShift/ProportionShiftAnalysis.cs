using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using BiasBench.Statistics;
using Microsoft.Extensions.Logging;
using ScottPlot;

namespace BiasBench.Plugins.Analyses.ProportionShift;

public sealed class ProportionShiftOptions
{
    /// <summary>Binary outcome per row (e.g. the classifier's "attractive" verdict): 0/1, -1/+1, or text with <see cref="PositiveLabel"/>.</summary>
    public string OutcomeColumn { get; set; } = "attractive";

    /// <summary>Text value of <see cref="OutcomeColumn"/> that counts as a success.</summary>
    public string? PositiveLabel { get; set; }

    /// <summary>Column saying which sample a row belongs to (e.g. phase: before / after fine-tuning).</summary>
    public string GroupColumn { get; set; } = "phase";

    [Required] public string Before { get; set; } = "before";
    [Required] public string After { get; set; } = "after";

    /// <summary>Optional column to compare within (e.g. the reward model a generator was fine-tuned against).</summary>
    public string? By { get; set; }

    [Range(0.5, 0.9999)] public double Confidence { get; set; } = 0.95;
}

/// <summary>
/// Share of items with a property before vs after (e.g. faces judged attractive before and after fine-tuning):
/// pooled two-proportion z test, Wilson interval per proportion, Newcombe (hybrid Wilson) interval of the difference.
/// Input is either per-item rows (outcome + group columns) or a counts table with columns
/// label, before, n_before, after, n_after.
/// </summary>
public sealed class ProportionShiftAnalysis(ProportionShiftOptions options) : IAnalysis
{
    public string Name => "proportion-shift";

    private sealed record Counts(string Label, long Before, long NBefore, long After, long NAfter);

    public Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken)
    {
        var result = new AnalysisResult();
        var counts = new List<Counts>();
        foreach (var (stage, table) in inputs.Tables)
            counts.AddRange(IsCountsTable(table) ? FromCountsTable(table) : FromItems(stage, table));

        var rows = new List<(Counts C, ZTestResult? Z, Interval WB, Interval WA, Interval? D, string? Note)>();
        foreach (var c in counts)
        {
            ZTestResult? z = null; Interval? diff = null; string? note = null;
            try { z = Proportions.TwoProportionZ(c.After, c.NAfter, c.Before, c.NBefore); }
            catch (Exception e) when (e is DegenerateDataException or ArgumentException) { note = e.Message; }
            try { diff = Proportions.NewcombeDifference(c.After, c.NAfter, c.Before, c.NBefore, options.Confidence); }
            catch (Exception e) when (e is DegenerateDataException or ArgumentException) { note = (note + " " + e.Message).Trim(); }
            rows.Add((c, z, Proportions.Wilson(c.Before, c.NBefore, options.Confidence), Proportions.Wilson(c.After, c.NAfter, options.Confidence), diff, note));
        }

        result.Tables.Add(new DataTable("proportion_shift")
            {
                Caption = $"Two-proportion z test (pooled SE, two-sided) of after vs before; Wilson {options.Confidence:P0} intervals per proportion; " +
                          "Newcombe hybrid-score interval of the difference (after - before).",
            }
            .Add("label", rows.Select(r => (string?)r.C.Label).ToArray())
            .Add("count_before", rows.Select(r => (double)r.C.Before).ToArray())
            .Add("n_before", rows.Select(r => (double)r.C.NBefore).ToArray())
            .Add("p_before", rows.Select(r => (double)r.C.Before / r.C.NBefore).ToArray())
            .Add("wilson_before_low", rows.Select(r => r.WB.Lower).ToArray())
            .Add("wilson_before_high", rows.Select(r => r.WB.Upper).ToArray())
            .Add("count_after", rows.Select(r => (double)r.C.After).ToArray())
            .Add("n_after", rows.Select(r => (double)r.C.NAfter).ToArray())
            .Add("p_after", rows.Select(r => (double)r.C.After / r.C.NAfter).ToArray())
            .Add("wilson_after_low", rows.Select(r => r.WA.Lower).ToArray())
            .Add("wilson_after_high", rows.Select(r => r.WA.Upper).ToArray())
            .Add("difference", rows.Select(r => (double)r.C.After / r.C.NAfter - (double)r.C.Before / r.C.NBefore).ToArray())
            .Add("newcombe_low", rows.Select(r => r.D?.Lower ?? double.NaN).ToArray())
            .Add("newcombe_high", rows.Select(r => r.D?.Upper ?? double.NaN).ToArray())
            .Add("z", rows.Select(r => r.Z?.Z ?? double.NaN).ToArray())
            .Add("p", rows.Select(r => r.Z?.P ?? double.NaN).ToArray())
            .Add("note", rows.Select(r => r.Note).ToArray()));

        foreach (var r in rows)
        {
            var pb = (double)r.C.Before / r.C.NBefore; var pa = (double)r.C.After / r.C.NAfter;
            var text = $"{r.C.Label}: {r.C.Before}/{r.C.NBefore} ({pb:P1}) before vs {r.C.After}/{r.C.NAfter} ({pa:P1}) after, " +
                       $"a change of {Format.Signed((pa - pb) * 100, 3)} points";
            if (r.D is { } d) text += $" ({options.Confidence:P0} CI {Format.Signed(d.Lower * 100, 3)} to {Format.Signed(d.Upper * 100, 3)})";
            text += r.Z is { } z ? $"; z={Format.Num(z.Z, 3)}, {Format.P(z.P)}." : $"; no z test ({r.Note}).";
            result.Findings.Add(new Finding(text));
        }
        if (rows.Count > 0) result.Figures.Add(Plot(rows.Select(r => (r.C.Label, (double)r.C.Before / r.C.NBefore, r.WB, (double)r.C.After / r.C.NAfter, r.WA)).ToList()));
        logger.LogInformation("proportion-shift: {Count} comparison(s)", rows.Count);
        return Task.FromResult(result);
    }

    private static readonly string[] CountColumns = ["before", "n_before", "after", "n_after"];

    private static bool IsCountsTable(DataTable t) => CountColumns.All(c => t.Contains(c) && t[c].IsNumeric);

    private static IEnumerable<Counts> FromCountsTable(DataTable t)
    {
        var labels = t.Contains("label") ? t["label"] : null;
        for (var r = 0; r < t.RowCount; r++)
        {
            long Get(string c)
            {
                var v = t.Numeric(c)[r];
                if (double.IsNaN(v) || v < 0 || v != Math.Floor(v))
                    throw new InvalidDataException($"Table '{t.Name}'{(t.Source is null ? "" : $" ({t.Source})")} row {r + 1}: '{c}' must be a non-negative whole number, got {v}.");
                return (long)v;
            }
            var label = labels?.FormatCell(r) ?? $"{t.Name} row {r + 1}";
            var c = new Counts(label, Get("before"), Get("n_before"), Get("after"), Get("n_after"));
            if (c.Before > c.NBefore || c.After > c.NAfter || c.NBefore == 0 || c.NAfter == 0)
                throw new InvalidDataException($"Table '{t.Name}' row {r + 1} ({label}): counts must satisfy 0 <= count <= n and n > 0.");
            yield return c;
        }
    }

    private IEnumerable<Counts> FromItems(string stage, DataTable t)
    {
        foreach (var c in new[] { options.OutcomeColumn, options.GroupColumn })
            if (!t.Contains(c))
                throw new InvalidDataException($"Table '{stage}' has no column '{c}' (columns: {string.Join(", ", t.Columns.Select(x => x.Name))}); " +
                                               "proportion-shift needs an outcome and a group column, or a counts table (before, n_before, after, n_after).");
        var outcome = InputTables.Binary(t, options.OutcomeColumn, options.PositiveLabel);
        var group = t[options.GroupColumn];
        var by = options.By is null ? null : t[options.By];
        var labels = Enumerable.Range(0, t.RowCount).Select(r => by?.FormatCell(r) ?? stage).ToArray();
        foreach (var label in labels.Distinct())
        {
            long b = 0, nb = 0, a = 0, na = 0, missing = 0;
            for (var r = 0; r < t.RowCount; r++)
            {
                if (labels[r] != label) continue;
                var g = group.FormatCell(r);
                if (double.IsNaN(outcome[r])) { missing++; continue; }
                if (g == options.Before) { nb++; if (outcome[r] == 1) b++; }
                else if (g == options.After) { na++; if (outcome[r] == 1) a++; }
            }
            if (nb == 0 || na == 0)
                throw new InvalidDataException($"Table '{stage}' ({label}): no rows with {options.GroupColumn} = '{(nb == 0 ? options.Before : options.After)}' " +
                                               $"(values: {string.Join(", ", Enumerable.Range(0, t.RowCount).Select(group.FormatCell).Distinct().Take(6))}).");
            if (missing > 0) yield return new Counts($"{label} ({missing} missing outcome(s) excluded)", b, nb, a, na);
            else yield return new Counts(label, b, nb, a, na);
        }
    }

    private Figure Plot(List<(string Label, double PB, Interval WB, double PA, Interval WA)> rows)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var ticks = new List<Tick>();
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            ticks.Add(new Tick(i, r.Label));
            foreach (var (offset, p, w, color) in new[] { (-0.18, r.PB, r.WB, palette.GetColor(0)), (0.18, r.PA, r.WA, palette.GetColor(1)) })
            {
                var bar = new Bar { Position = i + offset, Value = p, ValueBase = 0, Size = 0.34, FillColor = color };
                plot.Add.Bar(bar);
                // Wilson intervals are asymmetric.
                var err = plot.Add.ErrorBar([i + offset], [p], [0.0]);
                err.YErrorNegative = [p - w.Lower];
                err.YErrorPositive = [w.Upper - p];
                err.Color = Colors.Black;
            }
        }
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = options.Before, FillColor = palette.GetColor(0) });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = options.After, FillColor = palette.GetColor(1) });
        plot.ShowLegend();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.SetLimitsY(0, 1.05);
        plot.YLabel("proportion");
        plot.Title($"{options.Before} vs {options.After} (Wilson {options.Confidence:P0} CI)", size: 13);
        return FigureGrid.Render("proportion-shift", "Proportion with the outcome before and after, with Wilson intervals.", [plot], 1,
            panelWidth: Math.Max(480, 160 * rows.Count), panelHeight: 400);
    }
}
