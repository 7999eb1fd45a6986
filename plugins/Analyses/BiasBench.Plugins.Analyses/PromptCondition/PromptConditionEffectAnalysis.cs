using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using BiasBench.Statistics;
using MathNet.Numerics.Distributions;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.Analyses.PromptCondition;

/// <summary>
/// "Does asking for an attractive face raise the score?" Images share a seed and differ only in the prompt's
/// attractiveness word, so each seed is a block: paired tests per pair of conditions, Friedman across all of them.
/// </summary>
public sealed class PromptConditionEffectAnalysis(PromptConditionEffectOptions options) : IAnalysis
{
    private static readonly string[] HackathonOrder = ["unattractive", "normal", "attractive"];

    public string Name => "prompt-condition-effect";

    public Task<AnalysisResult> RunAsync(AnalysisInputs inputs, ILogger logger, CancellationToken cancellationToken)
    {
        var result = new AnalysisResult();
        var groups = SplitGroups(inputs).ToList();
        var means = new MeansTable();
        var contrasts = new ContrastTable();
        var friedman = new FriedmanTable();
        var slopePanels = new Dictionary<string, List<ScottPlot.Plot>>();
        var notComparable = new SortedSet<string>(); var unknown = new SortedSet<string>(); var sharedPrompts = new List<string>();

        foreach (var group in groups)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var table = group.Table;
            var conditions = ConditionOrder(table);
            var conditionText = table.Text(options.ConditionColumn);
            var pairKeys = PairKeys(table);
            double[]? level = table.Contains(options.LevelColumn) && table[options.LevelColumn].IsNumeric
                ? table.Numeric(options.LevelColumn).Values
                : conditionText.Values.Select(c => (double)Array.IndexOf(conditions, c)).ToArray();
            var panels = slopePanels[group.Label] = [];
            var scoredAcrossPrompts = ScoredWithDifferentPrompts(table, pairKeys, out var sharedPrompt);
            if (!scoredAcrossPrompts && sharedPrompt is not null)
                sharedPrompts.Add($"{group.Label}: \"{sharedPrompt}\"");

            foreach (var reward in RewardColumns(table))
            {
                var scores = table.Numeric(reward).Values;
                var display = RewardSemantics.DisplayName(reward, inputs);
                var comparable = RewardSemantics.ComparableAcrossPrompts(reward, inputs, options.ComparableAcrossPrompts, out var why);
                if (scoredAcrossPrompts && comparable == false) notComparable.Add($"{display} ({why})");
                else if (scoredAcrossPrompts && comparable is null) unknown.Add(reward);

                var blocks = Pivot(table, reward, conditions, conditionText, pairKeys, scores, result.Warnings, group.Label);
                for (var c = 0; c < conditions.Length; c++)
                {
                    var values = Enumerable.Range(0, table.RowCount)
                        .Where(r => conditionText[r] == conditions[c] && !double.IsNaN(scores[r])).Select(r => scores[r]).ToArray();
                    means.Add(group.Label, reward, conditions[c], values);
                }

                for (var a = 0; a < conditions.Length; a++)
                for (var b = a + 1; b < conditions.Length; b++)
                    contrasts.Add(group.Label, reward, conditions[a], conditions[b],
                        blocks.Select(x => x[a]).ToArray(), blocks.Select(x => x[b]).ToArray(), options.Confidence);

                var rows = Enumerable.Range(0, table.RowCount).Where(r => !double.IsNaN(scores[r]) && !double.IsNaN(level[r])).ToArray();
                friedman.Add(group.Label, reward, conditions.Length, blocks, rows.Select(r => level[r]).ToArray(), rows.Select(r => scores[r]).ToArray());
                panels.Add(SlopePlots.Panel($"{display} — {group.Label}", conditions, blocks, options.Confidence));
            }
        }

        contrasts.FillQValues();
        result.Tables.Add(means.Build());
        result.Tables.Add(contrasts.Build(options.Confidence));
        result.Tables.Add(friedman.Build());
        foreach (var (label, panels) in slopePanels.Where(p => p.Value.Count > 0))
            result.Figures.Add(FigureGrid.Render($"slope-{Slug(label)}",
                $"{label}: each grey line is one seed across the prompt conditions; black = mean with {options.Confidence:P0} t interval.", panels));
        if (contrasts.Rows.Count > 0)
            result.Figures.Add(SlopePlots.EffectSizes(contrasts.Rows, inputs));

        if (notComparable.Count > 0)
            result.Warnings.Add(
                $"Scores compared across different prompts: {string.Join("; ", notComparable)} are only comparable within a prompt. " +
                "Each condition here uses a different prompt, so a paired difference mixes the change in the image with the change in " +
                "the prompt text. To isolate the image, re-score every image with one shared prompt (a score stage with `prompt:`).");
        if (unknown.Count > 0)
            result.Warnings.Add($"Nothing is known about whether {string.Join(", ", unknown)} can be compared across prompts; " +
                                "set comparable_across_prompts in the analysis options.");
        if (sharedPrompts.Count > 0)
            result.Findings.Add(new Finding(
                $"Every image of a seed was scored with the same prompt ({string.Join("; ", sharedPrompts)}), so the paired differences " +
                "compare images, not prompts: scores of prompt-dependent models are comparable here."));
        result.Findings.AddRange(Findings.Write(contrasts.Rows, friedman.Rows, inputs));
        logger.LogInformation("prompt-condition-effect: {Groups} group(s), {Contrasts} paired contrasts", groups.Count, contrasts.Rows.Count);
        return Task.FromResult(result);
    }

    private sealed record Group(string Label, DataTable Table);

    private IEnumerable<Group> SplitGroups(AnalysisInputs inputs)
    {
        foreach (var (stage, table) in inputs.Tables)
        {
            if (!table.Contains(options.ConditionColumn))
                throw new InvalidDataException($"Table '{stage}'{Where(table)} has no condition column '{options.ConditionColumn}' (columns: {ColumnList(table)}).");
            if (!table.Contains(options.PairColumn))
                throw new InvalidDataException($"Table '{stage}'{Where(table)} has no pair column '{options.PairColumn}' (columns: {ColumnList(table)}).");
            if (!table.Contains(options.GroupColumn) || table[options.GroupColumn].IsNumeric)
            {
                yield return new Group(stage, table);
                continue;
            }
            var labels = table.Text(options.GroupColumn).Values;
            foreach (var label in labels.Distinct().OrderBy(l => l, StringComparer.Ordinal))
            {
                var rows = Enumerable.Range(0, labels.Length).Where(r => labels[r] == label).ToList();
                var name = label ?? "(missing)";
                yield return new Group(inputs.Tables.Count > 1 && labels.Distinct().Count() > 1 ? $"{stage}/{name}" : name, table.SelectRows(rows));
            }
        }
    }

    private string[] ConditionOrder(DataTable table)
    {
        var present = table.Text(options.ConditionColumn).Values.Where(v => v is not null).Select(v => v!).Distinct().ToList();
        if (options.Conditions is { Count: > 0 } configured)
        {
            var missing = configured.Where(c => !present.Contains(c)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"Conditions {string.Join(", ", missing)} do not occur in column '{options.ConditionColumn}' of '{table.Name}' (found: {string.Join(", ", present)}).");
            return configured.ToArray();
        }
        if (table.Contains(options.LevelColumn) && table[options.LevelColumn].IsNumeric)
        {
            var cond = table.Text(options.ConditionColumn).Values; var lvl = table.Numeric(options.LevelColumn).Values;
            var byLevel = present.Select(c => (c, Level: Enumerable.Range(0, cond.Length).Where(r => cond[r] == c).Select(r => lvl[r]).Distinct().ToList())).ToList();
            var ambiguous = byLevel.FirstOrDefault(x => x.Level.Count != 1);
            if (ambiguous.c is not null)
                throw new InvalidDataException($"Condition '{ambiguous.c}' of '{table.Name}' has several values of '{options.LevelColumn}' ({string.Join(", ", ambiguous.Level)}); list the order in `conditions`.");
            return byLevel.OrderBy(x => x.Level[0]).Select(x => x.c).ToArray();
        }
        if (present.All(HackathonOrder.Contains)) return HackathonOrder.Where(present.Contains).ToArray();
        throw new InvalidDataException($"Cannot tell the order of conditions {string.Join(", ", present)} in '{table.Name}': set `conditions` (least to most attractive).");
    }

    /// <summary>
    /// True when images of one pair were scored with different prompts (or the prompt is unknown): then scores of
    /// models that are only comparable within a prompt must not be compared. <paramref name="shared"/> is the single
    /// prompt when the whole table used one.
    /// </summary>
    private bool ScoredWithDifferentPrompts(DataTable table, string[] pairKeys, out string? shared)
    {
        shared = null;
        if (!table.Contains(options.PromptColumn) || table[options.PromptColumn].IsNumeric) return true;
        var prompts = table.Text(options.PromptColumn).Values;
        var perPair = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var r = 0; r < prompts.Length; r++)
        {
            if (prompts[r] is null) return true;
            if (perPair.TryGetValue(pairKeys[r], out var p) && p != prompts[r]) return true;
            perPair[pairKeys[r]] = prompts[r];
        }
        var distinct = perPair.Values.Distinct().ToList();
        if (distinct.Count == 1) shared = distinct[0];
        return false;
    }

    private string[] PairKeys(DataTable table) => table[options.PairColumn] switch
    {
        NumericColumn n => n.Values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)).ToArray(),
        TextColumn t => t.Values.Select(v => v ?? "").ToArray(),
        _ => throw new InvalidOperationException(),
    };

    private IEnumerable<string> RewardColumns(DataTable table)
    {
        if (options.Rewards is { Count: > 0 } listed)
        {
            foreach (var r in listed)
                if (!table.Contains(r) || !table[r].IsNumeric)
                    throw new InvalidDataException($"Reward column '{r}' is missing or not numeric in '{table.Name}'{Where(table)} (columns: {ColumnList(table)}).");
            return listed;
        }
        var excluded = new HashSet<string>(StringComparer.Ordinal) { options.PairColumn, options.LevelColumn, options.GroupColumn, options.ConditionColumn, options.PromptColumn };
        var found = table.Columns.Where(c => c.IsNumeric && !excluded.Contains(c.Name)).Select(c => c.Name).ToList();
        return found.Count > 0 ? found
            : throw new InvalidDataException($"Table '{table.Name}'{Where(table)} has no numeric reward columns (columns: {ColumnList(table)}).");
    }

    /// <summary>One row per complete pair: the reward under each condition, in condition order.</summary>
    private List<double[]> Pivot(DataTable table, string reward, string[] conditions, TextColumn conditionText, string[] pairKeys,
        double[] scores, List<string> warnings, string label)
    {
        var byPair = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var order = new List<string>();
        for (var r = 0; r < table.RowCount; r++)
        {
            var c = Array.IndexOf(conditions, conditionText[r]);
            if (c < 0) continue;
            if (!byPair.TryGetValue(pairKeys[r], out var slot))
            {
                byPair[pairKeys[r]] = slot = Enumerable.Repeat(double.NaN, conditions.Length).ToArray();
                order.Add(pairKeys[r]);
            }
            if (!double.IsNaN(slot[c]))
                throw new InvalidDataException($"Table '{table.Name}'{Where(table)}: {options.PairColumn} {pairKeys[r]} has two rows for condition '{conditions[c]}' (data row {r + 1}).");
            slot[c] = scores[r];
        }
        var complete = order.Select(k => byPair[k]).Where(v => v.All(x => !double.IsNaN(x))).ToList();
        var dropped = order.Where(k => byPair[k].Any(double.IsNaN)).ToList();
        if (dropped.Count > 0)
        {
            var message = $"{label}/{reward}: {dropped.Count} of {order.Count} {options.PairColumn} value(s) lack a condition or a score " +
                          $"({string.Join(", ", dropped.Take(10))}{(dropped.Count > 10 ? ", ..." : "")})";
            if (options.IncompletePairs == "error") throw new InvalidDataException(message + "; set incomplete_pairs: drop to analyse the complete pairs only.");
            warnings.Add(message + "; they were dropped from the paired tests (incomplete_pairs: drop).");
        }
        return complete;
    }

    private static string Slug(string s) => new(s.Select(ch => char.IsLetterOrDigit(ch) ? char.ToLowerInvariant(ch) : '-').ToArray());
    private static string Where(DataTable t) => t.Source is null ? "" : $" ({t.Source})";
    private static string ColumnList(DataTable t) => string.Join(", ", t.Columns.Select(c => c.Name));

    /// <summary>Two-sided t quantile for a confidence interval.</summary>
    internal static double TQuantile(double confidence, double df) => StudentT.InvCDF(0, 1, df, 1 - (1 - confidence) / 2);
}
