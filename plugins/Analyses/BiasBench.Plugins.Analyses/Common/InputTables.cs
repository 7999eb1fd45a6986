using BiasBench.Abstractions;

namespace BiasBench.Plugins.Analyses.Common;

/// <summary>Input handling shared by the analyses: one table, or several joined by an id column.</summary>
public static class InputTables
{
    /// <summary>
    /// The single input table, or all inputs inner-joined on <paramref name="idColumn"/> (columns prefixed by nothing:
    /// a column name may appear in only one table, except the id and columns whose values agree on every joined row,
    /// which are kept once). Unmatched rows are reported in <paramref name="warnings"/>.
    /// </summary>
    public static DataTable SingleOrJoined(AnalysisInputs inputs, string analysis, string idColumn, ICollection<string> warnings)
    {
        if (inputs.Tables.Count == 0) throw new InvalidDataException($"Analysis '{analysis}' needs at least one input table.");
        if (inputs.Tables.Count == 1) return inputs.Tables.Values.First();
        var tables = inputs.Tables.ToList();
        foreach (var (stage, t) in tables)
            if (!t.Contains(idColumn))
                throw new InvalidDataException($"Analysis '{analysis}' joins its {tables.Count} inputs on '{idColumn}', but table '{stage}'{Where(t)} has no such column (columns: {string.Join(", ", t.Columns.Select(c => c.Name))}).");

        var keyed = tables.Select(kv => (Stage: kv.Key, Table: kv.Value, Index: Index(kv.Key, kv.Value, idColumn))).ToList();
        var first = keyed[0];
        var ids = Keys(first.Table, idColumn);
        var keep = new List<int>();
        for (var r = 0; r < ids.Length; r++)
            if (ids[r] is not null && keyed.Skip(1).All(k => k.Index.ContainsKey(ids[r]!))) keep.Add(r);
        foreach (var k in keyed)
        {
            var unmatched = k.Index.Count - keep.Count;
            if (unmatched > 0) warnings.Add($"{unmatched} of {k.Index.Count} rows of '{k.Stage}' have no match in the other input(s) on '{idColumn}' and were left out of the join.");
        }
        if (keep.Count == 0)
            throw new InvalidDataException($"Analysis '{analysis}': no '{idColumn}' value is shared by all inputs ({string.Join(", ", keyed.Select(k => k.Stage))}); " +
                                           $"e.g. '{ids.FirstOrDefault()}' from '{first.Stage}' vs '{Keys(keyed[1].Table, idColumn).FirstOrDefault()}' from '{keyed[1].Stage}'.");

        var joined = new DataTable(string.Join("+", keyed.Select(k => k.Stage))) { Source = string.Join(" + ", keyed.Select(k => k.Table.Source ?? k.Stage)) };
        var keepIds = keep.Select(r => ids[r]!).ToList();
        foreach (var k in keyed)
        {
            var rows = keepIds.Select(id => k.Index[id]).ToList();
            foreach (var column in k.Table.Columns)
            {
                var selected = column.Select(rows);
                if (joined.Contains(column.Name))
                {
                    if (column.Name == idColumn) continue;
                    // Several score stages over the same images each carry e.g. the prompt: equal copies are kept once.
                    if (SameCells(joined[column.Name], selected)) continue;
                    throw new InvalidDataException($"Column '{column.Name}' appears in more than one input ('{k.Stage}' and an earlier one) with different values; rename it before joining.");
                }
                joined.Add(selected);
            }
        }
        return joined;
    }

    private static bool SameCells(DataColumn a, DataColumn b)
    {
        // Compared as written, so a judge table's text tag "12" matches a dataset's numeric seed 12.
        if (a.Length != b.Length) return false;
        for (var r = 0; r < a.Length; r++)
            if (a.FormatCell(r) != b.FormatCell(r)) return false;
        return true;
    }

    private static string?[] Keys(DataTable t, string idColumn) => t[idColumn] switch
    {
        TextColumn text => text.Values.Select(NormaliseId).ToArray(),
        NumericColumn n => n.Values.Select(v => double.IsNaN(v) ? null : v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>Ids compare by file name without extension, so '000001.jpg', '000001' and 'img/000001.png' match.</summary>
    public static string? NormaliseId(string? id)
    {
        if (id is null) return null;
        var name = id.Split('\\', '/').Last(s => s.Length > 0);
        return Path.GetFileNameWithoutExtension(name);
    }

    private static Dictionary<string, int> Index(string stage, DataTable t, string idColumn)
    {
        var keys = Keys(t, idColumn);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var r = 0; r < keys.Length; r++)
        {
            if (keys[r] is null) continue;
            if (!index.TryAdd(keys[r]!, r))
                throw new InvalidDataException($"Table '{stage}'{Where(t)}: id '{keys[r]}' in '{idColumn}' appears twice (data rows {index[keys[r]!] + 1} and {r + 1}).");
        }
        return index;
    }

    /// <summary>A 0/1 column from a numeric 0/1 (or -1/+1) column or a text column compared with <paramref name="positive"/>.</summary>
    public static double[] Binary(DataTable t, string column, string? positive)
    {
        var c = t[column];
        if (c is TextColumn text)
        {
            if (positive is null)
                throw new InvalidDataException($"Column '{column}' of '{t.Name}' is text; set positive_label to say which value counts as 1 (values: {string.Join(", ", text.Values.Distinct().Take(5))}).");
            return text.Values.Select(v => v is null ? double.NaN : string.Equals(v.Trim(), positive, StringComparison.OrdinalIgnoreCase) ? 1.0 : 0.0).ToArray();
        }
        var values = ((NumericColumn)c).Values;
        var distinct = values.Where(v => !double.IsNaN(v)).Distinct().OrderBy(v => v).ToArray();
        if (distinct.All(v => v is 0 or 1)) return values;
        if (distinct.All(v => v is -1 or 1)) return values.Select(v => double.IsNaN(v) ? v : (v + 1) / 2).ToArray();
        throw new InvalidDataException($"Column '{column}' of '{t.Name}' must be binary (0/1 or -1/+1); found {string.Join(", ", distinct.Take(6))}.");
    }

    private static string Where(DataTable t) => t.Source is null ? "" : $" ({t.Source})";
}
