using BiasBench.Abstractions;
using BiasBench.Data;

namespace BiasBench.Host.Runs;

/// <summary>Table output for the run store; the formats themselves live in BiasBench.Data.</summary>
public static class TableFiles
{
    /// <summary>Report tables show numbers to 4 significant digits (the CSV and Parquet files keep full precision).</summary>
    private const string DisplayFormat = "G4";

    public static void WriteCsv(DataTable t, string path) => CsvTable.Write(t, path);

    public static void WriteParquet(DataTable t, string path) => ParquetTable.Write(t, path);

    /// <summary>All rows: callers that show a table in a report cut it down themselves and say so.</summary>
    public static string ToMarkdown(DataTable t) => MarkdownTable.Write(t, int.MaxValue, DisplayFormat);

    public static string FormatForDisplay(DataColumn c, int r) => MarkdownTable.Format(c, r, DisplayFormat);
}
