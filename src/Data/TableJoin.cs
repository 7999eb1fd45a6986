using System.Globalization;
using BiasBench.Abstractions;

namespace BiasBench.Data;

/// <summary>A table's contents break a rule of the operation (duplicate join keys, missing values under policy Error).</summary>
public sealed class TableDataException(string table, string column, string message) : InvalidOperationException(message)
{
    /// <summary>The table's Source (or name when it has none).</summary>
    public string Table { get; } = table;
    public string Column { get; } = column;
}

internal static class TableText
{
    public static string Describe(DataTable t) => t.Source is null ? $"'{t.Name}'" : $"'{t.Name}' ({t.Source})";

    /// <summary>The cell as a key string; null when missing. Numbers use the round-trip form so 12 and 12.0 agree.</summary>
    public static string? Key(DataColumn c, int row) => c switch
    {
        NumericColumn n => double.IsNaN(n.Values[row]) ? null : n.Values[row].ToString("R", CultureInfo.InvariantCulture),
        _ => c.FormatCell(row),
    };
}

/// <summary>Joins tables on an image id (or any key column).</summary>
public static class TableJoin
{
    /// <summary>
    /// Inner join: one output row per left row whose key has a match in the right table, in left-table order.
    /// Keys must be unique on both sides (an error names the table, the key column and both rows). Rows without a match
    /// and rows with a missing key are left out and recorded in <paramref name="report"/> (and summarised in the
    /// caption). Output columns: all left columns, then the right columns except its key; a right column whose name
    /// the left table already uses gets <paramref name="rightSuffix"/>.
    /// </summary>
    public static DataTable Inner(DataTable left, DataTable right, string key, string? rightKey = null, DropReport? report = null, string rightSuffix = "_right")
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        ArgumentException.ThrowIfNullOrEmpty(key);
        rightKey ??= key;
        var lk = left[key];
        var rk = right[rightKey];

        Index(left, lk, out var leftMissing); // checks left keys are unique
        var rightIndex = Index(right, rk, out var rightMissing);

        var leftRows = new List<int>();
        var rightRows = new List<int>();
        var leftUnmatched = new List<int>();
        var rightUsed = new bool[right.RowCount];
        for (var r = 0; r < left.RowCount; r++)
        {
            var k = TableText.Key(lk, r);
            if (k is null) continue;
            if (rightIndex.TryGetValue(k, out var rr))
            {
                leftRows.Add(r);
                rightRows.Add(rr);
                rightUsed[rr] = true;
            }
            else leftUnmatched.Add(r);
        }
        var rightUnmatched = new List<int>();
        for (var r = 0; r < right.RowCount; r++)
            if (!rightUsed[r] && TableText.Key(rk, r) is not null) rightUnmatched.Add(r);

        var result = new DataTable($"{left.Name}+{right.Name}") { Source = $"{left.Source ?? left.Name} joined with {right.Source ?? right.Name} on {key}" };
        foreach (var c in left.Columns) result.Add(c.Select(leftRows));
        var renamed = new List<string>();
        foreach (var c in right.Columns)
        {
            if (c.Name == rightKey) continue;
            var col = c.Select(rightRows);
            if (result.Contains(c.Name))
            {
                var name = c.Name + rightSuffix;
                if (result.Contains(name))
                    throw new TableDataException(right.Source ?? right.Name, c.Name,
                        $"Joining {TableText.Describe(left)} with {TableText.Describe(right)}: column '{c.Name}' exists on both sides and '{name}' is taken too.");
                col = col.Rename(name);
                renamed.Add($"{c.Name} -> {name}");
            }
            result.Add(col);
        }

        var rep = report ?? new DropReport();
        rep.RowsBefore = left.RowCount;
        rep.RowsAfter = leftRows.Count;
        rep.Add(left.Name, key, $"no match in '{right.Name}'", leftUnmatched.Count, leftUnmatched.Select(r => TableText.Key(lk, r)!));
        rep.Add(right.Name, rightKey, $"no match in '{left.Name}'", rightUnmatched.Count, rightUnmatched.Select(r => TableText.Key(rk, r)!));
        rep.Add(left.Name, key, "missing key", leftMissing.Count, leftMissing.Select(r => $"row {r + 1}"));
        rep.Add(right.Name, rightKey, "missing key", rightMissing.Count, rightMissing.Select(r => $"row {r + 1}"));

        result.Caption =
            $"Inner join of '{left.Name}' ({left.RowCount} rows) and '{right.Name}' ({right.RowCount} rows) on " +
            (rightKey == key ? $"'{key}'" : $"'{key}' = '{rightKey}'") + $": {leftRows.Count} rows; " +
            $"{leftUnmatched.Count} left and {rightUnmatched.Count} right rows without a match" +
            (leftMissing.Count + rightMissing.Count > 0 ? $", {leftMissing.Count} left and {rightMissing.Count} right rows with a missing key" : "") +
            (renamed.Count > 0 ? $"; renamed {string.Join(", ", renamed)}" : "") + ".";
        return result;
    }

    private static Dictionary<string, int> Index(DataTable t, DataColumn keyColumn, out List<int> missing)
    {
        var index = new Dictionary<string, int>(t.RowCount, StringComparer.Ordinal);
        missing = [];
        for (var r = 0; r < t.RowCount; r++)
        {
            var k = TableText.Key(keyColumn, r);
            if (k is null)
            {
                missing.Add(r);
                continue;
            }
            if (!index.TryAdd(k, r))
                throw new TableDataException(t.Source ?? t.Name, keyColumn.Name,
                    $"Table {TableText.Describe(t)}: key '{k}' in column '{keyColumn.Name}' appears in rows {index[k] + 1} and {r + 1} " +
                    "(1-based data rows); a join needs unique keys.");
        }
        return index;
    }
}
