using System.Globalization;
using System.Text;
using BiasBench.Abstractions;

namespace BiasBench.Data;

/// <summary>GitHub-flavoured Markdown pipe tables for reports.</summary>
public static class MarkdownTable
{
    /// <summary>
    /// Renders up to <paramref name="maxRows"/> rows (numbers with <paramref name="numberFormat"/>, invariant culture,
    /// right-aligned; missing cells empty). <c>|</c> is escaped and line breaks become <c>&lt;br&gt;</c> so a cell
    /// cannot break the table. A note follows when rows were left out, and the caption (if any) in italics.
    /// </summary>
    public static string Write(DataTable table, int maxRows = 200, string numberFormat = "G6")
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRows);
        var sb = new StringBuilder();
        var cols = table.Columns;
        if (cols.Count == 0)
        {
            sb.Append("*Table '").Append(Escape(table.Name)).Append("' has no columns.*\n");
        }
        else
        {
            sb.Append('|');
            foreach (var c in cols) sb.Append(' ').Append(Escape(c.Name)).Append(" |");
            sb.Append("\n|");
            foreach (var c in cols) sb.Append(c.IsNumeric ? " ---: |" : " --- |");
            sb.Append('\n');
            var shown = Math.Min(maxRows, table.RowCount);
            for (var r = 0; r < shown; r++)
            {
                sb.Append('|');
                foreach (var c in cols) sb.Append(' ').Append(Escape(Format(c, r, numberFormat))).Append(" |");
                sb.Append('\n');
            }
            if (shown < table.RowCount) sb.Append("\n*First ").Append(shown).Append(" of ").Append(table.RowCount).Append(" rows.*\n");
        }
        if (!string.IsNullOrWhiteSpace(table.Caption)) sb.Append('\n').Append('*').Append(Escape(table.Caption.Trim()).Replace("*", "\\*")).Append("*\n");
        return sb.ToString();
    }

    /// <summary>How a cell is shown: numbers with the format in invariant culture, missing as empty.</summary>
    public static string Format(DataColumn column, int row, string numberFormat = "G6") => column is NumericColumn n
        ? double.IsNaN(n.Values[row]) ? "" : n.Values[row].ToString(numberFormat, CultureInfo.InvariantCulture)
        : column.FormatCell(row) ?? "";

    private static string Escape(string s) =>
        s.Replace("|", "\\|").Replace("\r\n", "<br>").Replace("\n", "<br>").Replace("\r", "<br>");
}
