using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using ScottPlot;

namespace BiasBench.Plugins.Analyses.AttributeBias;

internal static class Charts
{
    private static readonly Color Highlight = new(214, 39, 40);
    private static readonly Color Plain = new(31, 119, 180);

    /// <summary>One panel per reward: Pearson r with every attribute, sorted, with its interval; the target in red.</summary>
    public static Figure CorrelationBars(IReadOnlyList<CorrelationRow> rows, AttributeData data, AnalysisInputs inputs, double confidence)
    {
        var panels = new List<Plot>();
        var height = Math.Max(FigureGrid.PanelHeight, 15 * data.Attributes.Length + 110);
        foreach (var reward in data.Rewards)
        {
            var plot = new Plot();
            var sorted = rows.Where(r => r.Reward == reward && !double.IsNaN(r.PearsonR)).OrderBy(r => r.PearsonR).ToList();
            var bars = sorted.Select((r, i) => new Bar
            {
                Position = i, Value = r.PearsonR, Size = 0.8,
                FillColor = r.Attribute == data.Target ? Highlight : Plain,
            }).ToList();
            if (bars.Count > 0)
            {
                var barPlot = plot.Add.Bars(bars);
                barPlot.Horizontal = true;
            }
            for (var i = 0; i < sorted.Count; i++)
                if (!double.IsNaN(sorted[i].CiLow)) Whisker(plot, sorted[i].CiLow, sorted[i].CiHigh, i, horizontal: true);
            plot.Add.VerticalLine(0, 1, Colors.Black);
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                sorted.Select((r, i) => new Tick(i, r.Attribute)).ToArray());
            plot.Axes.Left.TickLabelStyle.FontSize = 10;
            plot.Axes.SetLimitsY(-0.7, Math.Max(sorted.Count, 1) - 0.3);
            plot.Title(RewardSemantics.DisplayName(reward, inputs), size: 13);
            plot.XLabel("Pearson r");
            panels.Add(plot);
        }
        return FigureGrid.Render("attribute-correlations",
            $"Pearson (point-biserial) correlation of each reward with each attribute, sorted; whiskers are {confidence:P0} intervals " +
            (data.Target is null ? "(Fisher z)." : $"(bootstrap for {data.Target} when enabled, else Fisher z); {data.Target} in red."),
            panels, panelWidth: 460, panelHeight: height);
    }

    /// <summary>Attribute x reward grid of r, blue (negative) to red (positive), each cell labelled.</summary>
    public static Figure Heatmap(IReadOnlyList<CorrelationRow> rows, AttributeData data, AnalysisInputs inputs)
    {
        var plot = new Plot();
        // Attributes ordered by their mean r across rewards, largest at the top.
        var order = data.Attributes
            .Select(a => (a, Mean: rows.Where(r => r.Attribute == a && !double.IsNaN(r.PearsonR)).Select(r => r.PearsonR).DefaultIfEmpty(double.NaN).Average()))
            .OrderBy(x => double.IsNaN(x.Mean) ? double.NegativeInfinity : x.Mean).Select(x => x.a).ToList();
        var max = rows.Where(r => !double.IsNaN(r.PearsonR)).Select(r => Math.Abs(r.PearsonR)).DefaultIfEmpty(0).Max();
        if (max == 0) max = 1;
        for (var t = 0; t < data.Rewards.Length; t++)
        for (var a = 0; a < order.Count; a++)
        {
            var row = rows.First(r => r.Reward == data.Rewards[t] && r.Attribute == order[a]);
            var rect = plot.Add.Rectangle(t, t + 1, a, a + 1);
            rect.FillColor = Diverging(row.PearsonR / max);
            rect.LineColor = Colors.White;
            rect.LineWidth = 0.5f;
            var text = plot.Add.Text(double.IsNaN(row.PearsonR) ? "n/a" : row.PearsonR.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), t + 0.5, a + 0.5);
            text.LabelFontSize = 9;
            text.LabelAlignment = Alignment.MiddleCenter;
            text.LabelFontColor = Math.Abs(row.PearsonR / max) > 0.6 ? Colors.White : Colors.Black;
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(order.Select((a, i) => new Tick(i + 0.5, a)).ToArray());
        plot.Axes.Left.TickLabelStyle.FontSize = 10;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            data.Rewards.Select((r, i) => new Tick(i + 0.5, RewardSemantics.DisplayName(r, inputs))).ToArray());
        plot.Axes.SetLimits(0, data.Rewards.Length, 0, order.Count);
        plot.Title($"Pearson r (colour scale ±{max:0.00})", size: 13);
        return FigureGrid.Render("attribute-heatmap",
            "Correlation of every reward with every attribute (red positive, blue negative, scaled to the largest |r|); attributes ordered by mean r.",
            [plot], 1, panelWidth: 200 + 110 * data.Rewards.Length, panelHeight: Math.Max(FigureGrid.PanelHeight, 15 * order.Count + 110));
    }

    /// <summary>Per reward: the raw r of the target next to its partial r for every covariate set.</summary>
    public static Figure RawVsPartial(IReadOnlyList<PartialRow> rows, AnalysisInputs inputs)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var rewards = rows.Select(r => r.Reward).Distinct().ToList();
        var sets = rows.Select(r => r.CovariateSet).Distinct().ToList();
        var series = new List<string> { "raw" };
        series.AddRange(sets);
        const double width = 0.8;
        var slot = width / series.Count;
        for (var ri = 0; ri < rewards.Count; ri++)
        for (var s = 0; s < series.Count; s++)
        {
            var position = ri - width / 2 + (s + 0.5) * slot;
            double value, low = double.NaN, high = double.NaN;
            if (s == 0)
            {
                var first = rows.First(r => r.Reward == rewards[ri]);
                (value, low, high) = (first.RawR, first.Raw?.CiLow ?? double.NaN, first.Raw?.CiHigh ?? double.NaN);
            }
            else
            {
                var row = rows.First(r => r.Reward == rewards[ri] && r.CovariateSet == series[s]);
                (value, low, high) = (row.R, row.CiLow, row.CiHigh);
            }
            if (double.IsNaN(value)) continue;
            plot.Add.Bar(new Bar { Position = position, Value = value, Size = slot * 0.9, FillColor = palette.GetColor(s) });
            if (!double.IsNaN(low)) Whisker(plot, low, high, position, horizontal: false);
        }
        for (var s = 0; s < series.Count; s++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = s == 0 ? "raw r" : "| " + series[s], FillColor = palette.GetColor(s) });
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Add.HorizontalLine(0, 1, Colors.Black);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            rewards.Select((r, i) => new Tick(i, RewardSemantics.DisplayName(r, inputs))).ToArray());
        // Headroom above the bars for the legend.
        var values = rows.SelectMany(r => new[] { r.RawR, r.R, r.CiLow, r.CiHigh }).Where(v => !double.IsNaN(v)).DefaultIfEmpty(0).ToList();
        double top = Math.Max(0, values.Max()), bottom = Math.Min(0, values.Min()), span = Math.Max(top - bottom, 1e-6);
        plot.Axes.SetLimits(-0.6, rewards.Count - 0.4, bottom - 0.05 * span, top + 0.45 * span);
        var target = rows[0].Target;
        plot.Title($"{target}: raw vs partial correlation", size: 13);
        plot.YLabel("r");
        return FigureGrid.Render("partial-correlations",
            $"Correlation of {target} with each reward before (raw r) and after controlling for each covariate set (partial r, with its interval).",
            [plot], 1, panelWidth: Math.Max(640, 160 * rewards.Count * series.Count / 2), panelHeight: 420);
    }

    private static void Whisker(Plot plot, double low, double high, double at, bool horizontal)
    {
        var line = horizontal ? plot.Add.Line(low, at, high, at) : plot.Add.Line(at, low, at, high);
        line.Color = Colors.Black;
        line.LineWidth = 1.5f;
        line.MarkerSize = 0;
    }

    /// <summary>Blue - white - red for v in [-1, 1]; grey for NaN.</summary>
    private static Color Diverging(double v)
    {
        if (double.IsNaN(v)) return Colors.LightGray;
        v = Math.Clamp(v, -1, 1);
        (double R, double G, double B) end = v < 0 ? (33, 102, 172) : (178, 24, 43);
        var w = Math.Abs(v);
        byte Mix(double c) => (byte)Math.Round(255 + (c - 255) * w);
        return new Color(Mix(end.R), Mix(end.G), Mix(end.B));
    }
}
