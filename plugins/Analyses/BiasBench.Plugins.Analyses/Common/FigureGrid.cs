using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using BiasBench.Abstractions;
using ScottPlot;
using SkiaSharp;

namespace BiasBench.Plugins.Analyses.Common;

/// <summary>
/// Lays out one ScottPlot panel per reward model (like the hackathon's figure) and renders the grid as PNG (for
/// reports) and SVG (for papers). Panels are rendered separately and composed, which keeps each panel's axes
/// independent: rewards live on very different scales.
/// </summary>
public static partial class FigureGrid
{
    public const int PanelWidth = 420;
    public const int PanelHeight = 340;

    public static Figure Render(string name, string caption, IReadOnlyList<Plot> panels, int? columns = null,
        int panelWidth = PanelWidth, int panelHeight = PanelHeight)
    {
        if (panels.Count == 0) throw new ArgumentException("A figure needs at least one panel.", nameof(panels));
        var cols = columns ?? Math.Min(panels.Count, 3);
        var rows = (panels.Count + cols - 1) / cols;
        int width = cols * panelWidth, height = rows * panelHeight;

        byte[] png;
        using (var surface = SKSurface.Create(new SKImageInfo(width, height)))
        {
            surface.Canvas.Clear(SKColors.White);
            for (var i = 0; i < panels.Count; i++)
            {
                var bytes = panels[i].GetImageBytes(panelWidth, panelHeight, ImageFormat.Png);
                using var bitmap = SKBitmap.Decode(bytes);
                surface.Canvas.DrawBitmap(bitmap, i % cols * panelWidth, i / cols * panelHeight);
            }
            using var image = surface.Snapshot();
            using var data = image.Encode(SKEncodedImageFormat.Png, 100);
            png = data.ToArray();
        }

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">");
        for (var i = 0; i < panels.Count; i++)
        {
            var inner = panels[i].GetSvgXml(panelWidth, panelHeight);
            // Nest each panel as its own <svg> positioned in the grid; clip-path ids must stay unique per panel.
            inner = XmlDeclaration().Replace(inner, "");
            inner = IdPattern().Replace(inner, m => $"{m.Groups[1].Value}p{i}_{m.Groups[2].Value}");
            inner = OpeningSvg().Replace(inner,
                m => $"<svg x=\"{i % cols * panelWidth}\" y=\"{i / cols * panelHeight}\"{m.Groups[1].Value}", 1);
            svg.Append(inner);
        }
        svg.Append("</svg>");
        foreach (var p in panels) p.Dispose();
        return new Figure(name, caption, png, svg.ToString());
    }

    [GeneratedRegex(@"<\?xml[^>]*\?>")]
    private static partial Regex XmlDeclaration();

    // id="x", url(#x) and href="#x" references.
    [GeneratedRegex(@"(id=""|url\(#|href=""#)([A-Za-z0-9_\-]+)")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"<svg(\s)")]
    private static partial Regex OpeningSvg();
}
