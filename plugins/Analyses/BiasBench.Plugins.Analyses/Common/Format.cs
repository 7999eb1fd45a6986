using System.Globalization;

namespace BiasBench.Plugins.Analyses.Common;

/// <summary>Number formatting for findings: short, but never rounding a tiny p-value to zero.</summary>
public static class Format
{
    public static string P(double p) => p switch
    {
        double.NaN => "n/a",
        < 1e-300 => "p<1e-300",
        < 1e-3 => "p=" + p.ToString("0.#e+0", CultureInfo.InvariantCulture).Replace("e+", "e").Replace("e-0", "e-"),
        _ => "p=" + p.ToString("0.###", CultureInfo.InvariantCulture),
    };

    public static string Num(double v, int significant = 3) =>
        double.IsNaN(v) ? "n/a" : v.ToString("G" + significant, CultureInfo.InvariantCulture);

    public static string Signed(double v, int significant = 3) => (v >= 0 ? "+" : "") + Num(v, significant);
}
