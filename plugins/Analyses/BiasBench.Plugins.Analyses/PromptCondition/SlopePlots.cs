using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using BiasBench.Statistics;
using ScottPlot;

namespace BiasBench.Plugins.Analyses.PromptCondition;

internal static class SlopePlots
{
    /// <summary>One line per seed across the conditions, with the mean and its t interval on top.</summary>
    public static Plot Panel(string title, string[] conditions, List<double[]> blocks, double confidence)
    {
        var plot = new Plot();
        var xs = Enumerable.Range(0, conditions.Length).Select(i => (double)i).ToArray();
        foreach (var block in blocks)
        {
            var line = plot.Add.Scatter(xs, block);
            line.Color = Colors.Gray.WithAlpha(0.25);
            line.LineWidth = 1;
            line.MarkerSize = 0;
        }
        if (blocks.Count > 1)
        {
            var means = xs.Select(x => Descriptive.Mean(blocks.Select(b => b[(int)x]).ToArray())).ToArray();
            var tq = PromptConditionEffectAnalysis.TQuantile(confidence, blocks.Count - 1);
            var half = xs.Select(x => tq * Descriptive.StandardDeviation(blocks.Select(b => b[(int)x]).ToArray()) / Math.Sqrt(blocks.Count)).ToArray();
            var meanLine = plot.Add.Scatter(xs, means);
            meanLine.Color = Colors.Black; meanLine.LineWidth = 2.5f; meanLine.MarkerSize = 7;
            var bars = plot.Add.ErrorBar(xs, means, half);
            bars.Color = Colors.Black; bars.LineWidth = 2;
        }
        plot.Axes.Bottom.SetTicks(xs, conditions);
        plot.Axes.SetLimitsX(-0.25, conditions.Length - 0.75);
        plot.Title(title, size: 13);
        plot.YLabel("score");
        return plot;
    }

    /// <summary>
    /// Standardised effect (Cohen's d_z) of the most vs least attractive prompt, per reward and group, with the
    /// large-sample interval d ± z·sqrt(1/n + d²/(2n)) so that models on different scales share one axis.
    /// </summary>
    public static Figure EffectSizes(IReadOnlyList<ContrastRow> rows, AnalysisInputs inputs)
    {
        // Most vs least attractive: the last contrast that starts at the first condition.
        var extremes = rows.GroupBy(r => (r.Group, r.Reward)).Select(g => g.Last(r => r.ConditionA == g.First().ConditionA)).ToList();
        var groups = extremes.Select(r => r.Group).Distinct().ToList();
        var rewards = extremes.Select(r => r.Reward).Distinct().ToList();
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var ticks = new List<Tick>();
        const double width = 0.8;
        for (var ri = 0; ri < rewards.Count; ri++)
        {
            ticks.Add(new Tick(ri, RewardSemantics.DisplayName(rewards[ri], inputs)));
            for (var gi = 0; gi < groups.Count; gi++)
            {
                var row = extremes.FirstOrDefault(r => r.Group == groups[gi] && r.Reward == rewards[ri]);
                if (row is null || double.IsNaN(row.CohensDz)) continue;
                var d = row.CohensDz; var n = row.NPairs;
                var se = Math.Sqrt(1.0 / n + d * d / (2.0 * n));
                var bar = new Bar
                {
                    Position = ri - width / 2 + (gi + 0.5) * width / groups.Count,
                    Value = d, Error = 1.959963984540054 * se, Size = width / groups.Count * 0.9,
                    FillColor = palette.GetColor(gi),
                };
                plot.Add.Bar(bar);
            }
        }
        for (var gi = 0; gi < groups.Count; gi++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = groups[gi], FillColor = palette.GetColor(gi) });
        plot.ShowLegend();
        plot.Add.HorizontalLine(0, 1, Colors.Black);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        var first = extremes.FirstOrDefault();
        plot.Title(first is null ? "Paired effect" : $"'{first.ConditionB}' vs '{first.ConditionA}' prompt: paired effect size", size: 13);
        plot.YLabel("d_z (paired, per seed)");
        return FigureGrid.Render("effect-sizes",
            "Standardised paired effect of the most vs least attractive prompt per reward model (Cohen's d_z with a normal-approximation 95% interval).",
            [plot], 1, panelWidth: 640, panelHeight: 420);
    }
}
