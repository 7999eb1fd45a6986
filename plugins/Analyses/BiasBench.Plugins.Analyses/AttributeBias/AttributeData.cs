using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;

namespace BiasBench.Plugins.Analyses.AttributeBias;

/// <summary>
/// The analysis-ready columns: rewards and attributes as aligned double arrays after the join, listwise handling of
/// missing values and recoding of -1/+1 attributes (CelebA's list_attr_celeba.txt) to 0/1.
/// </summary>
internal sealed class AttributeData
{
    public required int N { get; init; }
    public required string[] Rewards { get; init; }
    public required double[][] RewardValues { get; init; }
    public required string[] Attributes { get; init; }
    public required double[][] AttributeValues { get; init; }

    /// <summary>True where the attribute only takes the values 0 and 1 (after recoding).</summary>
    public required bool[] Binary { get; init; }

    /// <summary>True where the attribute takes a single value (nothing can be estimated for it).</summary>
    public required bool[] Constant { get; init; }

    public string? Target { get; init; }
    public string? StratifyBy { get; init; }

    /// <summary>Stratum label of every row (null when not stratified).</summary>
    public string?[]? Strata { get; init; }

    public required string TableName { get; init; }

    public double[] Attribute(string name) => AttributeValues[Array.IndexOf(Attributes, name)];
    public int AttributeIndex(string name) => Array.IndexOf(Attributes, name);

    private static readonly string[] DefaultCovariateNames = ["Smiling", "Male", "Young", "Heavy_Makeup"];

    public static AttributeData Prepare(AnalysisInputs inputs, AttributeBiasOptions options, List<string> warnings)
    {
        var table = Join(inputs, options, warnings);
        var rewards = RewardColumns(table, inputs, options);
        var attributes = AttributeColumns(table, options, rewards);

        string? target = options.Target;
        if (target is not null && !attributes.Contains(target))
            throw new InvalidDataException($"Target attribute '{target}' is not among the attributes of '{table.Name}'{Where(table)} " +
                                           $"(attributes: {Preview(attributes)}).");
        target ??= attributes.Contains("Attractive") ? "Attractive" : null;

        string? stratify = options.StratifyBy switch
        {
            null => table.Contains("Male") ? "Male" : null,
            "" or "none" => null,
            var s => table.Contains(s) ? s
                : throw new InvalidDataException($"stratify_by column '{s}' is not in '{table.Name}'{Where(table)} (columns: {Preview(table.Columns.Select(c => c.Name))})."),
        };

        // Listwise: every statistic is computed on the same rows, so the tables agree on n.
        var used = rewards.Concat(attributes).Distinct().ToList();
        if (stratify is not null && !used.Contains(stratify)) used.Add(stratify);
        var keep = new bool[table.RowCount];
        Array.Fill(keep, true);
        var missingByColumn = new List<(string Column, int Count, int FirstRow)>();
        foreach (var name in used)
        {
            var column = table[name];
            int count = 0, first = -1;
            for (var r = 0; r < table.RowCount; r++)
            {
                var missing = column is NumericColumn n ? !double.IsFinite(n.Values[r]) : ((TextColumn)column).Values[r] is null;
                if (!missing) continue;
                keep[r] = false;
                if (count++ == 0) first = r;
            }
            if (count > 0) missingByColumn.Add((name, count, first));
        }
        var rows = Enumerable.Range(0, table.RowCount).Where(r => keep[r]).ToArray();
        if (missingByColumn.Count > 0)
        {
            var detail = string.Join("; ", missingByColumn.Select(m => $"'{m.Column}': {m.Count} (first at data row {m.FirstRow + 1})"));
            if (options.Missing == "error")
                throw new InvalidDataException($"Table '{table.Name}'{Where(table)} has missing or non-finite values: {detail}. " +
                                               "Set missing: drop to analyse the complete rows only.");
            warnings.Add($"{table.RowCount - rows.Length} of {table.RowCount} rows were dropped for missing values (missing: drop): {detail}.");
        }
        if (rows.Length < 4)
            throw new InvalidDataException($"Table '{table.Name}'{Where(table)} has {rows.Length} complete row(s); the attribute analysis needs at least 4.");

        var all = rows.Length == table.RowCount;
        double[] Take(string name)
        {
            var v = table.Numeric(name).Values;
            if (all) return v;
            var result = new double[rows.Length];
            for (var i = 0; i < rows.Length; i++) result[i] = v[rows[i]];
            return result;
        }

        var attributeValues = new double[attributes.Count][];
        var binary = new bool[attributes.Count];
        var constant = new bool[attributes.Count];
        var recoded = new List<string>();
        for (var j = 0; j < attributes.Count; j++)
        {
            var v = Take(attributes[j]);
            var (isBinary, isSigned, isConstant) = Classify(v);
            if (isSigned)
            {
                v = v.Select(x => (x + 1) / 2).ToArray();
                recoded.Add(attributes[j]);
            }
            attributeValues[j] = v;
            binary[j] = isBinary || isSigned;
            constant[j] = isConstant;
        }
        if (recoded.Count > 0)
            warnings.Add($"Attributes coded -1/+1 were recoded to 0/1 (so OLS coefficients are the effect of having the attribute): {Preview(recoded)}.");

        string?[]? strata = null;
        if (stratify is not null)
        {
            var column = table[stratify];
            strata = new string?[rows.Length];
            var attrIndex = attributes.IndexOf(stratify);
            for (var i = 0; i < rows.Length; i++)
                strata[i] = attrIndex >= 0 ? attributeValues[attrIndex][i].ToString("R", CultureInfo.InvariantCulture)
                    : column is NumericColumn n ? n.Values[rows[i]].ToString("R", CultureInfo.InvariantCulture)
                    : ((TextColumn)column).Values[rows[i]];
            var levels = strata.Distinct().Count();
            if (levels > 50)
                throw new InvalidDataException($"stratify_by column '{stratify}' has {levels} distinct values; stratify by a grouping column (e.g. Male) instead.");
        }

        return new AttributeData
        {
            N = rows.Length,
            Rewards = rewards.ToArray(),
            RewardValues = rewards.Select(Take).ToArray(),
            Attributes = attributes.ToArray(),
            AttributeValues = attributeValues,
            Binary = binary,
            Constant = constant,
            Target = target,
            StratifyBy = stratify,
            Strata = strata,
            TableName = table.Name,
        };
    }

    /// <summary>The default covariate sets, keeping only those whose attributes exist.</summary>
    public List<List<string>> DefaultCovariateSets(List<string> warnings)
    {
        var sets = new List<List<string>>();
        var present = DefaultCovariateNames.Where(a => Attributes.Contains(a) && a != Target).ToList();
        if (present.Contains("Smiling")) sets.Add(["Smiling"]);
        if (present.Count == DefaultCovariateNames.Length) sets.Add(present);
        else if (present.Count > 0 && Target is not null)
            warnings.Add($"The default covariate set Smiling+Male+Young+Heavy_Makeup was skipped: {string.Join(", ", DefaultCovariateNames.Except(present))} not among the attributes; set covariate_sets to choose covariates.");
        sets.Add([AttributeBiasAnalysis.AllOthers]);
        return sets;
    }

    private static (bool Binary, bool Signed, bool Constant) Classify(double[] v)
    {
        bool zeroOne = true, signed = true;
        double first = v[0];
        var constant = true;
        foreach (var x in v)
        {
            if (x != 0 && x != 1) zeroOne = false;
            if (x != -1 && x != 1) signed = false;
            if (x != first) constant = false;
        }
        // An all-ones column is both; call it 0/1 so nothing is recoded.
        return (zeroOne, signed && !zeroOne, constant);
    }

    private static DataTable Join(AnalysisInputs inputs, AttributeBiasOptions options, List<string> warnings)
    {
        try
        {
            return InputTables.SingleOrJoined(inputs, AttributeBiasAnalysis.AnalysisName, options.IdColumn, warnings);
        }
        catch (InvalidDataException e) when (inputs.Tables.Count > 1 && e.Message.Contains("appears twice", StringComparison.Ordinal))
        {
            // Name every table of the join: the duplicate makes the join ambiguous for all of them.
            throw new InvalidDataException(
                $"Cannot join {string.Join(" and ", inputs.Tables.Select(t => $"'{t.Key}'{Where(t.Value)}"))} on '{options.IdColumn}': {e.Message}", e);
        }
    }

    private static List<string> RewardColumns(DataTable table, AnalysisInputs inputs, AttributeBiasOptions options)
    {
        if (options.Rewards is { Count: > 0 } listed)
        {
            foreach (var r in listed)
                if (!table.Contains(r) || !table[r].IsNumeric)
                    throw new InvalidDataException($"Reward column '{r}' is missing or not numeric in '{table.Name}'{Where(table)} (columns: {Preview(table.Columns.Select(c => c.Name))}).");
            return listed.Distinct().ToList();
        }
        var found = table.Columns
            .Where(c => c.IsNumeric && c.Name != options.IdColumn && (RewardSemantics.IsKnownReward(c.Name) || inputs.RewardModels.ContainsKey(c.Name)))
            .Select(c => c.Name).ToList();
        return found.Count > 0 ? found
            : throw new InvalidDataException($"No reward column recognised in '{table.Name}'{Where(table)}; list them in `rewards` " +
                                             $"(numeric columns: {Preview(table.Columns.Where(c => c.IsNumeric).Select(c => c.Name))}).");
    }

    private static List<string> AttributeColumns(DataTable table, AttributeBiasOptions options, List<string> rewards)
    {
        if (options.Attributes is { Count: > 0 } listed)
        {
            foreach (var a in listed)
            {
                if (!table.Contains(a))
                    throw new InvalidDataException($"Attribute column '{a}' is not in '{table.Name}'{Where(table)} (columns: {Preview(table.Columns.Select(c => c.Name))}).");
                if (!table[a].IsNumeric)
                    throw new InvalidDataException($"Attribute column '{a}' of '{table.Name}'{Where(table)} is text; encode it as 0/1 or a number.");
                if (rewards.Contains(a))
                    throw new InvalidDataException($"Column '{a}' is listed both as a reward and as an attribute.");
            }
            return listed.Distinct().ToList();
        }
        var found = table.Columns.Where(c => c.IsNumeric && c.Name != options.IdColumn && !rewards.Contains(c.Name)).Select(c => c.Name).ToList();
        return found.Count > 0 ? found
            : throw new InvalidDataException($"Table '{table.Name}'{Where(table)} has no numeric attribute columns besides the rewards (columns: {Preview(table.Columns.Select(c => c.Name))}).");
    }

    internal static string Preview(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count <= 12 ? string.Join(", ", list) : string.Join(", ", list.Take(12)) + $", ... ({list.Count} in all)";
    }

    private static string Where(DataTable t) => t.Source is null ? "" : $" ({t.Source})";
}
