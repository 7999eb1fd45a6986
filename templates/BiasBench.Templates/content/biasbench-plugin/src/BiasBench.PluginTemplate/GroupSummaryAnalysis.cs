using System.Globalization;
using BiasBench.Abstractions;
using Microsoft.Extensions.Logging;

namespace BiasBench.PluginTemplate;

/// <summary>Options, bound from the config's <c>options:</c> (snake_case) and validated before any work starts.</summary>
public sealed class GroupSummaryOptions
{
    /// <summary>The text column that defines the groups (e.g. 'condition' of a generate or hackathon-scores stage).</summary>
    public string GroupBy { get; set; } = "condition";

    /// <summary>Numeric columns to summarise; empty = every numeric column except those in <see cref="Exclude"/>.</summary>
    public List<string> Columns { get; set; } = [];

    /// <summary>Numeric columns never summarised when <see cref="Columns"/> is empty (identifiers, not measurements).</summary>
    public List<string> Exclude { get; set; } = ["seed"];
}

/// <summary>
/// Per numeric column and group: n, mean, sample standard deviation (n - 1), min and max, ignoring missing values
/// (NaN, e.g. failed items), and a finding naming the groups with the highest and lowest mean. A minimal analysis to
/// copy from; the built-in ones add tests, effect sizes and intervals.
/// </summary>
public sealed class GroupSummaryAnalysis(GroupSummaryOptions options) : IAnalysis
{
    public const string Name = "my-component";

    string IAnalysis.Name => Name;

    public Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken)
    {
        var table = inputs.Single(Name);
        if (!table.Contains(options.GroupBy))
            throw new InvalidOperationException($"table '{table.Name}' has no column '{options.GroupBy}' (group_by); it has {string.Join(", ", table.Columns.Select(c => c.Name))}.");
        var group = table[options.GroupBy];
        var columns = options.Columns.Count > 0
            ? options.Columns.Select(c => table.Contains(c) && table[c].IsNumeric ? table.Numeric(c)
                : throw new InvalidOperationException($"table '{table.Name}' has no numeric column '{c}'.")).ToList()
            : table.Columns.OfType<NumericColumn>().Where(c => c.Name != options.GroupBy && !options.Exclude.Contains(c.Name)).ToList();

        var groups = Enumerable.Range(0, table.RowCount).GroupBy(row => group.FormatCell(row) ?? "(missing)")
            .OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var result = new AnalysisResult();
        var names = new List<string?>(); var labels = new List<string?>();
        var counts = new List<double>(); var means = new List<double>(); var sds = new List<double>(); var mins = new List<double>(); var maxs = new List<double>();
        foreach (var column in columns)
        {
            var missing = 0;
            var summaries = new List<(string Group, int N, double Mean)>();
            foreach (var g in groups)
            {
                var values = g.Select(row => column[row]).Where(v => { var ok = !double.IsNaN(v); if (!ok) missing++; return ok; }).ToArray();
                var (mean, sd) = MeanAndSd(values);
                names.Add(column.Name); labels.Add(g.Key); counts.Add(values.Length); means.Add(mean); sds.Add(sd);
                mins.Add(values.Length > 0 ? values.Min() : double.NaN); maxs.Add(values.Length > 0 ? values.Max() : double.NaN);
                if (values.Length > 0) summaries.Add((g.Key, values.Length, mean));
            }
            if (missing > 0) result.Warnings.Add($"{column.Name}: {missing} missing value(s) left out.");
            if (summaries.Count >= 2)
            {
                var high = summaries.MaxBy(s => s.Mean); var low = summaries.MinBy(s => s.Mean);
                result.Findings.Add(new Finding(string.Create(CultureInfo.InvariantCulture,
                    $"Mean {column.Name} is highest for {options.GroupBy} = {high.Group} ({high.Mean:G4}, n={high.N}) and lowest for {low.Group} ({low.Mean:G4}, n={low.N}).")));
            }
        }
        result.Tables.Add(new DataTable("group-summary") { Caption = $"Numeric columns of '{table.Name}' by {options.GroupBy}: n, mean, sample sd, min, max (missing values left out)." }
            .Add("column", names.ToArray()).Add(options.GroupBy, labels.ToArray()).Add("n", counts.ToArray())
            .Add("mean", means.ToArray()).Add("sd", sds.ToArray()).Add("min", mins.ToArray()).Add("max", maxs.ToArray()));
        logger.LogInformation("{Analysis}: {Columns} column(s) x {Groups} group(s)", Name, columns.Count, groups.Count);
        return Task.FromResult(result);
    }

    /// <summary>Mean and sample standard deviation (two-pass); NaN where undefined (sd needs two values).</summary>
    public static (double Mean, double Sd) MeanAndSd(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return (double.NaN, double.NaN);
        var mean = values.Sum() / values.Count;
        if (values.Count < 2) return (mean, double.NaN);
        var squares = values.Sum(v => (v - mean) * (v - mean));
        return (mean, Math.Sqrt(squares / (values.Count - 1)));
    }
}
