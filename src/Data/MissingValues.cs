using BiasBench.Abstractions;

namespace BiasBench.Data;

public enum MissingValuePolicy
{
    /// <summary>Any missing value in the checked columns is an error.</summary>
    Error,

    /// <summary>Rows with a missing value in any checked column are removed, and the removal is reported.</summary>
    DropRows,
}

/// <summary>An explicit, reported policy for missing values (NaN in numeric columns, null in text columns).</summary>
public static class MissingValues
{
    /// <summary>
    /// Checks <paramref name="columns"/> of <paramref name="table"/>. Under <see cref="MissingValuePolicy.Error"/> a
    /// missing value throws <see cref="TableDataException"/> naming the table's Source, the column, the count and the
    /// first rows; the table is returned unchanged otherwise. Under <see cref="MissingValuePolicy.DropRows"/> the rows
    /// are removed; <paramref name="report"/> gives per column how many rows had a missing value there and their first
    /// 10 ids (from <paramref name="idColumn"/>, default <c>image_id</c> when present, else "row N", 1-based), and the
    /// caption of the returned table says what was dropped.
    /// </summary>
    public static DataTable Apply(DataTable table, IEnumerable<string> columns, MissingValuePolicy policy, out DropReport report, string? idColumn = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(columns);
        var names = columns.Distinct(StringComparer.Ordinal).ToList();
        var cols = names.Select(n => table[n]).ToList(); // unknown names throw, naming table, Source and columns
        DataColumn? ids = idColumn is not null ? table[idColumn] : table.Contains("image_id") ? table["image_id"] : null;
        string Id(int r) => (ids is null ? null : TableText.Key(ids, r)) ?? $"row {r + 1}";

        var drop = new bool[table.RowCount];
        var perColumn = new List<(DataColumn Column, List<int> Rows)>();
        foreach (var c in cols)
        {
            var rows = new List<int>();
            for (var r = 0; r < c.Length; r++)
                if (IsMissing(c, r))
                {
                    rows.Add(r);
                    drop[r] = true;
                }
            perColumn.Add((c, rows));
        }

        report = new DropReport { RowsBefore = table.RowCount };
        if (policy == MissingValuePolicy.Error)
        {
            var bad = perColumn.Where(p => p.Rows.Count > 0).ToList();
            if (bad.Count > 0)
            {
                var detail = string.Join("; ", bad.Select(p =>
                    $"column '{p.Column.Name}' has {p.Rows.Count} missing value{(p.Rows.Count == 1 ? "" : "s")} " +
                    $"(rows {string.Join(", ", p.Rows.Take(DropReport.MaxIds).Select(r => $"{r + 1} [{Id(r)}]"))}{(p.Rows.Count > DropReport.MaxIds ? ", ..." : "")})"));
                throw new TableDataException(table.Source ?? table.Name, bad[0].Column.Name,
                    $"Table {TableText.Describe(table)}: {detail}; the missing-value policy is Error (use DropRows to drop and report them).");
            }
            report.RowsAfter = table.RowCount;
            foreach (var (c, _) in perColumn) report.Add(table.Name, c.Name, "missing value", 0, []);
            return table;
        }
        if (policy != MissingValuePolicy.DropRows) throw new ArgumentOutOfRangeException(nameof(policy), policy, "Unknown missing-value policy.");

        foreach (var (c, rows) in perColumn) report.Add(table.Name, c.Name, "missing value", rows.Count, rows.Select(Id));
        var keep = new List<int>(table.RowCount);
        for (var r = 0; r < drop.Length; r++)
            if (!drop[r]) keep.Add(r);
        report.RowsAfter = keep.Count;
        var result = table.SelectRows(keep);
        var note = $"Missing-value policy DropRows on {string.Join(", ", names.Select(n => $"'{n}'"))}: {table.RowCount - keep.Count} of {table.RowCount} rows dropped" +
                   (keep.Count == table.RowCount ? "." : $" ({report.Describe()}).");
        result.Caption = string.IsNullOrWhiteSpace(table.Caption) ? note : table.Caption.TrimEnd() + " " + note;
        return result;
    }

    public static bool IsMissing(DataColumn column, int row) => column switch
    {
        NumericColumn n => double.IsNaN(n.Values[row]),
        _ => column.FormatCell(row) is null,
    };
}
