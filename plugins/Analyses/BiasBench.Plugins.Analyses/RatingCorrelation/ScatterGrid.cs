using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using MathNet.Numerics.Distributions;
using ScottPlot;

namespace BiasBench.Plugins.Analyses.RatingCorrelation;

/// <summary>
/// The hackathon's figure: one scatter panel per reward (row) and scope (all faces, then each group), the rating on x
/// and the score on y, with the OLS line and its confidence band, and r / rho in the corner.
/// </summary>
internal static class ScatterGrid
{
    private const int BandPoints = 60;

    public static Figure Render(RatingData data, IReadOnlyList<CorrelationRow> correlations, IReadOnlyList<SlopeRow> slopes,
        AnalysisInputs inputs, double confidence)
    {
        var palette = new ScottPlot.Palettes.Category10();
        var scopes = data.Scopes().ToList();
        var panels = new List<Plot>();
        for (var t = 0; t < data.Rewards.Length; t++)
        {
            var reward = data.Rewards[t];
            var display = RewardSemantics.DisplayName(reward, inputs);
            foreach (var (scope, rows) in scopes)
            {
                var plot = new Plot();
                var x = RatingData.Take(data.RatingValues, rows);
                var y = RatingData.Take(data.RewardValues[t], rows);
                var colour = scope == RatingData.AllScope ? palette.GetColor(0) : palette.GetColor(Array.IndexOf(data.Groups, scope));
                if (scope == RatingData.AllScope && data.Groups.Length > 1)
                {
                    // All faces, coloured by group so the pooled cloud shows where each group sits.
                    for (var g = 0; g < data.Groups.Length; g++)
                    {
                        var members = Enumerable.Range(0, rows.Length).Where(i => data.Labels![rows[i]] == data.Groups[g]).ToArray();
                        Points(plot, members.Select(i => x[i]).ToArray(), members.Select(i => y[i]).ToArray(), palette.GetColor(g));
                        plot.Legend.ManualItems.Add(new LegendItem { LabelText = data.Groups[g], FillColor = palette.GetColor(g) });
                    }
                    plot.ShowLegend(Alignment.LowerRight);
                }
                else Points(plot, x, y, colour);

                var slope = slopes.FirstOrDefault(s => s.Reward == reward && s.Scope == scope);
                if (slope is not null && !double.IsNaN(slope.Slope)) FittedLine(plot, x, y, slope, confidence);

                var c = correlations.First(r => r.Reward == reward && r.Scope == scope);
                var text = double.IsNaN(c.PearsonR)
                    ? $"n={c.N}: r undefined"
                    : $"r={Fixed(c.PearsonR)} [{Fixed(c.PearsonLow)}, {Fixed(c.PearsonHigh)}]\nρ={Fixed(c.SpearmanRho)}, n={c.N}";
                var label = plot.Add.Annotation(text, Alignment.UpperLeft);
                label.LabelFontSize = 11;
                label.LabelBackgroundColor = Colors.White.WithAlpha(0.85);
                label.LabelBorderColor = Colors.Gray;
                label.LabelShadowColor = Colors.Transparent;
                plot.Title(scope == RatingData.AllScope ? $"{display}: all faces" : $"{display}: {scope}", size: 13);
                plot.XLabel(data.Rating);
                plot.YLabel(display);
                panels.Add(plot);
            }
        }
        var groupsText = data.Groups.Length > 0 ? $", then each {data.GroupColumn} ({string.Join(", ", data.Groups)})" : "";
        return FigureGrid.Render("rating-scatter",
            $"Each reward (row) against '{data.Rating}': all faces{groupsText}. Lines: OLS fit with its {confidence:P0} confidence band " +
            $"(classic OLS standard error of the mean prediction); r with its Fisher-z interval, Spearman rho.",
            panels, columns: scopes.Count);
    }

    private static void Points(Plot plot, double[] x, double[] y, Color colour)
    {
        if (x.Length == 0) return;
        var points = plot.Add.Scatter(x, y);
        points.LineWidth = 0;
        points.MarkerSize = 3;
        points.Color = colour.WithAlpha(0.45);
    }

    /// <summary>The OLS line over the observed range, and the band yhat +- t sqrt(s^2 (1/n + (x - xbar)^2 / Sxx)).</summary>
    private static void FittedLine(Plot plot, double[] x, double[] y, SlopeRow slope, double confidence)
    {
        int n = x.Length;
        double xbar = x.Average(), sxx = x.Sum(v => (v - xbar) * (v - xbar));
        double ssr = 0;
        for (var i = 0; i < n; i++) { var e = y[i] - slope.Intercept - slope.Slope * x[i]; ssr += e * e; }
        var s2 = ssr / (n - 2);
        var q = StudentT.InvCDF(0, 1, n - 2, 1 - (1 - confidence) / 2);
        double lo = x.Min(), hi = x.Max();
        var xs = Enumerable.Range(0, BandPoints).Select(i => lo + (hi - lo) * i / (BandPoints - 1)).ToArray();
        var fit = xs.Select(v => slope.Intercept + slope.Slope * v).ToArray();
        var half = xs.Select(v => q * Math.Sqrt(s2 * (1.0 / n + (v - xbar) * (v - xbar) / sxx))).ToArray();
        var band = plot.Add.FillY(xs, fit.Select((f, i) => f - half[i]).ToArray(), fit.Select((f, i) => f + half[i]).ToArray());
        band.FillColor = Colors.Black.WithAlpha(0.18);
        band.LineWidth = 0;
        var line = plot.Add.Scatter(xs, fit);
        line.Color = Colors.Black;
        line.LineWidth = 2;
        line.MarkerSize = 0;
    }

    private static string Fixed(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0.00", CultureInfo.InvariantCulture);
}
