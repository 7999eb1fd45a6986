using System.Globalization;
using System.Text;
using BiasBench.Abstractions;

namespace BiasBench.Host.Runs;

/// <summary>Table output for the run store (temporary local writers; to be replaced by BiasBench.Data writers).</summary>
public static class TableFiles
{
    public static void WriteCsv(DataTable t, string path)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", t.Columns.Select(c => Quote(c.Name))));
        for (var r = 0; r < t.RowCount; r++) sb.AppendLine(string.Join(",", t.Columns.Select(c => Quote(c.FormatCell(r) ?? ""))));
        File.WriteAllText(path, sb.ToString());
    }

    public static void WriteParquet(DataTable t, string path) { }

    public static string ToMarkdown(DataTable t)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", t.Columns.Select(c => c.Name)) + " |");
        sb.AppendLine("|" + string.Join("|", t.Columns.Select(c => c.IsNumeric ? "---:" : "---")) + "|");
        for (var r = 0; r < t.RowCount; r++) sb.AppendLine("| " + string.Join(" | ", t.Columns.Select(c => FormatForDisplay(c, r).Replace("|", "\\|"))) + " |");
        return sb.ToString();
    }

    public static string FormatForDisplay(DataColumn c, int r) => c is NumericColumn n
        ? double.IsNaN(n[r]) ? "" : n[r].ToString("G4", CultureInfo.InvariantCulture)
        : c.FormatCell(r) ?? "";

    private static string Quote(string s) => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
