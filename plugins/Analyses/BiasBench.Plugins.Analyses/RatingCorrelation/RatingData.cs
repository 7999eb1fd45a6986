using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;

namespace BiasBench.Plugins.Analyses.RatingCorrelation;

/// <summary>
/// The analysis-ready columns after the join: the rating, each reward and the group label as aligned arrays, with
/// missing values handled listwise (every statistic rests on the same rows).
/// </summary>
internal sealed class RatingData
{
    public const string AllScope = "all";

    public required string Rating { get; init; }
    public required double[] RatingValues { get; init; }
    public required string[] Rewards { get; init; }
    public required double[][] RewardValues { get; init; }

    /// <summary>Null when there is no grouping.</summary>
    public string? GroupColumn { get; init; }

    /// <summary>Group label of every row (null without grouping).</summary>
    public string[]? Labels { get; init; }

    /// <summary>Groups in ordinal order; the first is the reference level of the group dummies.</summary>
    public required string[] Groups { get; init; }

    public required string TableName { get; init; }
    public int N => RatingValues.Length;

    /// <summary>Rows of each scope: "all", then every group.</summary>
    public IEnumerable<(string Scope, int[] Rows)> Scopes()
    {
        yield return (AllScope, Enumerable.Range(0, N).ToArray());
        foreach (var g in Groups) yield return (g, Enumerable.Range(0, N).Where(i => Labels![i] == g).ToArray());
    }

    /// <summary>0/1 indicators of every group but the first (the reference), named after their group.</summary>
    public (double[][] Columns, string[] Names) Dummies()
    {
        var names = Groups.Skip(1).ToArray();
        var columns = names.Select(g => Labels!.Select(l => l == g ? 1.0 : 0.0).ToArray()).ToArray();
        return (columns, names);
    }

    public static double[] Take(double[] values, int[] rows)
    {
        if (rows.Length == values.Length) return values;
        var result = new double[rows.Length];
        for (var i = 0; i < rows.Length; i++) result[i] = values[rows[i]];
        return result;
    }

    public static RatingData Prepare(AnalysisInputs inputs, RatingCorrelationOptions options, List<string> warnings)
    {
        var table = InputTables.SingleOrJoined(inputs, RatingCorrelationAnalysis.AnalysisName, options.IdColumn, warnings);
        var where = table.Source is null ? "" : $" ({table.Source})";
        string Columns() => Preview(table.Columns.Select(c => c.Name));

        if (!table.Contains(options.Rating))
            throw new InvalidDataException($"Rating column '{options.Rating}' is not in '{table.Name}'{where} (columns: {Columns()}); set `rating`.");
        if (!table[options.Rating].IsNumeric)
            throw new InvalidDataException($"Rating column '{options.Rating}' of '{table.Name}'{where} is text; it must be a number (e.g. a mean rating).");

        var rewards = RewardColumns(table, inputs, options, where, Columns);
        string? groupColumn = options.GroupColumn switch
        {
            null => table.Contains("group") ? "group" : null,
            "" or "none" => null,
            var g => table.Contains(g) ? g : throw new InvalidDataException($"group_column '{g}' is not in '{table.Name}'{where} (columns: {Columns()})."),
        };
        if (groupColumn is not null && (groupColumn == options.Rating || rewards.Contains(groupColumn)))
            throw new InvalidDataException($"Column '{groupColumn}' cannot be both the group column and the rating or a reward.");

        // Listwise: a row missing the rating, any reward or its group is left out of everything.
        var used = new List<string> { options.Rating };
        used.AddRange(rewards);
        if (groupColumn is not null) used.Add(groupColumn);
        var keep = Enumerable.Repeat(true, table.RowCount).ToArray();
        var missing = new List<string>();
        foreach (var name in used)
        {
            var column = table[name];
            int count = 0, first = -1;
            for (var r = 0; r < table.RowCount; r++)
            {
                var absent = column is NumericColumn n ? !double.IsFinite(n.Values[r]) : string.IsNullOrWhiteSpace(((TextColumn)column).Values[r]);
                if (!absent) continue;
                keep[r] = false;
                if (count++ == 0) first = r;
            }
            if (count > 0) missing.Add($"'{name}': {count} (first at data row {first + 1})");
        }
        var rows = Enumerable.Range(0, table.RowCount).Where(r => keep[r]).ToArray();
        if (missing.Count > 0)
        {
            if (options.Missing == "error")
                throw new InvalidDataException($"Table '{table.Name}'{where} has missing or non-finite values: {string.Join("; ", missing)}. " +
                                               "Set missing: drop to analyse the complete rows only.");
            warnings.Add($"{table.RowCount - rows.Length} of {table.RowCount} rows were dropped for missing values (missing: drop): {string.Join("; ", missing)}.");
        }
        if (rows.Length < 4)
            throw new InvalidDataException($"Table '{table.Name}'{where} has {rows.Length} complete row(s); correlating a rating with rewards needs at least 4.");

        string[]? labels = null;
        string[] groups = [];
        if (groupColumn is not null)
        {
            var column = table[groupColumn];
            labels = rows.Select(r => column.FormatCell(r)!.Trim()).ToArray();
            groups = labels.Distinct().Order(StringComparer.Ordinal).ToArray();
            if (groups.Length > 50)
                throw new InvalidDataException($"group_column '{groupColumn}' has {groups.Length} distinct values; group by a column with a few levels (e.g. SCUT-FBP5500's group).");
        }

        WarnAboutPrompts(table, rows, rewards, inputs, warnings);
        return new RatingData
        {
            Rating = options.Rating,
            RatingValues = Take(table.Numeric(options.Rating).Values, rows),
            Rewards = rewards.ToArray(),
            RewardValues = rewards.Select(r => Take(table.Numeric(r).Values, rows)).ToArray(),
            GroupColumn = groupColumn,
            Labels = labels,
            Groups = groups,
            TableName = table.Name,
        };
    }

    private static List<string> RewardColumns(DataTable table, AnalysisInputs inputs, RatingCorrelationOptions options, string where, Func<string> columns)
    {
        if (options.Rewards is { Count: > 0 } listed)
        {
            foreach (var r in listed)
            {
                if (!table.Contains(r) || !table[r].IsNumeric)
                    throw new InvalidDataException($"Reward column '{r}' is missing or not numeric in '{table.Name}'{where} (columns: {columns()}).");
                if (r == options.Rating) throw new InvalidDataException($"Column '{r}' is listed as a reward but is the rating.");
            }
            return listed.Distinct().ToList();
        }
        var found = table.Columns
            .Where(c => c.IsNumeric && c.Name != options.Rating && (inputs.RewardModels.ContainsKey(c.Name) || RewardSemantics.IsKnownReward(c.Name)))
            .Select(c => c.Name).ToList();
        return found.Count > 0 ? found
            : throw new InvalidDataException($"No reward column recognised in '{table.Name}'{where}; list them in `rewards` " +
                                             $"(numeric columns: {Preview(table.Columns.Where(c => c.IsNumeric).Select(c => c.Name))}).");
    }

    /// <summary>Prompt-dependent scores are only comparable between images scored with the same prompt.</summary>
    private static void WarnAboutPrompts(DataTable table, int[] rows, List<string> rewards, AnalysisInputs inputs, List<string> warnings)
    {
        if (!table.Contains("prompt") || table["prompt"] is not TextColumn prompts) return;
        var distinct = rows.Select(r => prompts.Values[r]).Distinct().ToList();
        if (distinct.Count <= 1) return;
        var dependent = rewards.Where(r => RewardSemantics.ComparableAcrossPrompts(r, inputs, null, out _) != true)
            .Select(r => RewardSemantics.DisplayName(r, inputs)).ToList();
        if (dependent.Count > 0)
            warnings.Add($"The images were scored with {distinct.Count} different prompts; {string.Join(", ", dependent)} compare images only under one prompt, " +
                         "so their correlation with the rating mixes prompts. Score every image with the same prompt.");
    }

    internal static string Preview(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count <= 12 ? string.Join(", ", list) : string.Join(", ", list.Take(12)) + $", ... ({list.Count} in all)";
    }
}
