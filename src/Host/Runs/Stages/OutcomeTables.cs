using BiasBench.Abstractions;

namespace BiasBench.Host.Runs;

/// <summary>
/// Outcomes per item (success, refusal, error) counted per prompt condition: a hosted model's refusal rate per
/// condition is itself a bias signal, so generate and judge stages write it as a table.
/// </summary>
internal static class OutcomeTables
{
    public static DataTable ByCondition(string name, IReadOnlyList<string?> conditions, IReadOnlyList<string> outcomes)
    {
        var groups = conditions.Select((c, i) => (Condition: c ?? "(none)", Outcome: outcomes[i]))
            .GroupBy(x => x.Condition).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        double Count(IGrouping<string, (string, string Outcome)> g, string o) => g.Count(x => x.Outcome == o);
        return new DataTable(name) { Caption = "Items per prompt condition by outcome; refusal_rate = refusals / items (content-policy refusals are answers, not faults)." }
            .Add("condition", groups.Select(g => (string?)g.Key).ToArray())
            .Add("items", groups.Select(g => (double)g.Count()).ToArray())
            .Add("success", groups.Select(g => Count(g, "success")).ToArray())
            .Add("refusal", groups.Select(g => Count(g, "refusal")).ToArray())
            .Add("error", groups.Select(g => Count(g, "error")).ToArray())
            .Add("refusal_rate", groups.Select(g => Count(g, "refusal") / g.Count()).ToArray());
    }
}
