using System.Globalization;
using BiasBench.Abstractions;
using ScottPlot;

namespace BiasBench.Plugins.FineTuning;

/// <summary>The report's view of a fine-tuning run: reward against judged-attractive share over steps, and sample grids.</summary>
public static class MonitorFigures
{
    private const int Width = 640, Height = 420;

    /// <summary>Training reward (left axis) and each judge's positive share (right axis, 0-1) over steps.</summary>
    public static Figure RewardVersusJudged(CsvLog monitor, IReadOnlyList<MonitorJudge> judges, string algorithm)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var steps = monitor.Rows.Select(r => r[0]).ToArray();
        var reward = plot.Add.Scatter(steps, Column(monitor, "training_reward"));
        reward.LegendText = "training reward (mean over monitor seeds)";
        reward.Color = palette.GetColor(0);
        plot.Axes.Left.Label.Text = "training reward";
        for (var k = 0; k < judges.Count; k++)
        {
            var share = plot.Add.Scatter(steps, Column(monitor, RewardHackingMonitor.ShareColumn(judges[k])));
            share.LegendText = $"{judges[k].Name}: share judged {judges[k].PositiveLabel}";
            share.Color = palette.GetColor(k + 1);
            share.MarkerShape = MarkerShape.OpenSquare;
            share.Axes.YAxis = plot.Axes.Right;
        }
        if (judges.Count > 0)
        {
            plot.Axes.Right.Label.Text = "share judged " + judges[0].PositiveLabel;
            plot.Axes.SetLimitsY(0, 1, plot.Axes.Right);
        }
        plot.XLabel("training step");
        plot.ShowLegend(Edge.Bottom);
        plot.Title($"{algorithm}: reward vs judged share", size: 13);
        return Render(plot, "reward-vs-judged",
            "Reward-hacking monitor: the training reward (circles, left axis) and the share of the fixed monitor seeds each judge calls " +
            "positive (squares, right axis) at every monitored step, from the same generated images.");
    }

    /// <summary>Every reward column's change since the first monitored step (training rewards and independent ones).</summary>
    public static Figure RewardShifts(CsvLog monitor)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var steps = monitor.Rows.Select(r => r[0]).ToArray();
        var k = 0;
        foreach (var column in monitor.Columns.Where(c => c.StartsWith("reward.", StringComparison.Ordinal) || c.StartsWith("monitor.", StringComparison.Ordinal)))
        {
            var values = Column(monitor, column);
            if (values.Length == 0) continue;
            var s = plot.Add.Scatter(steps, values.Select(v => v - values[0]).ToArray());
            s.LegendText = column;
            s.Color = palette.GetColor(k++ % 10);
        }
        plot.XLabel("training step");
        plot.YLabel("mean score - mean at the first monitored step");
        plot.ShowLegend(Edge.Bottom);
        plot.Title("Reward shifts on the monitor seeds", size: 13);
        return Render(plot, "reward-shifts", "Change of each reward model's mean score on the fixed monitor seeds since the first monitored step " +
                                             "(reward.*: trained against; monitor.*: independent).");
    }

    /// <summary>The sample grid of a monitored step as a figure (PNG, and an SVG embedding it).</summary>
    public static Figure SampleGrid(long step, byte[] png, int images)
    {
        var size = BiasBench.Imaging.ImageDecoder.Decode(png, $"grid of step {step}");
        return new($"samples-step-{step.ToString(CultureInfo.InvariantCulture)}",
            $"The first {images} monitor seeds at step {step} (same seeds at every step).", png,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size.Width}\" height=\"{size.Height}\"><image width=\"{size.Width}\" height=\"{size.Height}\" " +
            $"href=\"data:image/png;base64,{Convert.ToBase64String(png)}\"/></svg>");
    }

    private static double[] Column(CsvLog log, string column)
    {
        var index = log.Columns.ToList().IndexOf(column);
        return index < 0 ? [] : log.Rows.Select(r => r[index]).ToArray();
    }

    private static Figure Render(Plot plot, string name, string caption)
    {
        var png = plot.GetImageBytes(Width, Height, ImageFormat.Png);
        var svg = plot.GetSvgXml(Width, Height);
        plot.Dispose();
        return new Figure(name, caption, png, svg);
    }
}
