using BiasBench.Abstractions;
using BiasBench.Statistics;
using ScottPlot;

namespace BiasBench.Plugins.ResNetJudge.Training;

/// <summary>ScottPlot figures of a training run, rendered as PNG (reports) and SVG (papers) like the analyses' figures.</summary>
public static class Figures
{
    private const int Width = 520, Height = 440;

    public static Figure ReliabilityDiagram(IReadOnlyList<ReliabilityBin> bins, double ece, string split)
    {
        var plot = new Plot();
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.Color = Colors.Gray; diagonal.LinePattern = LinePattern.Dashed;
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var b in bins.Where(b => b.Count > 0))
        {
            var bar = new Bar { Position = (b.Lower + b.Upper) / 2, Value = b.ObservedRate, ValueBase = 0, Size = (b.Upper - b.Lower) * 0.9, FillColor = palette.GetColor(0).WithAlpha(0.75) };
            plot.Add.Bar(bar);
            var gap = plot.Add.Line(bar.Position, b.ObservedRate, bar.Position, b.MeanProbability);
            gap.Color = Colors.Red; gap.LineWidth = 2;
            var m = plot.Add.Marker(bar.Position, b.MeanProbability); m.Color = Colors.Red; m.Size = 6;
        }
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.XLabel("predicted P(positive)");
        plot.YLabel("observed positive rate");
        plot.Title($"Reliability ({split}), ECE = {(double.IsNaN(ece) ? "n/a" : ece.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture))}", size: 13);
        return Render(plot, "reliability", $"Reliability diagram of the {split} split: bars are the observed positive rate per probability bin, " +
                                           "red markers the mean predicted probability; the dashed diagonal is perfect calibration.");
    }

    public static Figure LearningCurve(DataTable log)
    {
        var plot = new Plot();
        var epochs = log.Numeric("epoch").Values;
        void Series(string column, string label, Color color)
        {
            var values = log.Numeric(column).Values;
            var keep = Enumerable.Range(0, values.Length).Where(i => double.IsFinite(values[i])).ToArray();
            if (keep.Length == 0) return;
            var s = plot.Add.Scatter(keep.Select(i => epochs[i]).ToArray(), keep.Select(i => values[i]).ToArray());
            s.LegendText = label; s.Color = color;
        }
        var palette = new ScottPlot.Palettes.Category10();
        Series("train_loss", "train loss", palette.GetColor(0));
        Series("val_loss", "validation loss", palette.GetColor(1));
        Series("val_roc_auc", "validation ROC-AUC", palette.GetColor(2));
        plot.ShowLegend();
        plot.XLabel("epoch");
        plot.Title("Training", size: 13);
        return Render(plot, "learning-curve", "Mean training loss, validation loss and validation ROC-AUC per epoch.");
    }

    private static Figure Render(Plot plot, string name, string caption)
    {
        var png = plot.GetImageBytes(Width, Height, ImageFormat.Png);
        var svg = plot.GetSvgXml(Width, Height);
        plot.Dispose();
        return new Figure(name, caption, png, svg);
    }
}
