using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;

namespace BiasBench.Plugins.Analyses.PromptCondition;

/// <summary>Sentences for the report, written from the numbers.</summary>
internal static class Findings
{
    public static IEnumerable<Finding> Write(IReadOnlyList<ContrastRow> contrasts, IReadOnlyList<FriedmanRow> trends, AnalysisInputs inputs)
    {
        var raised = 0; var lowered = 0; var total = 0;
        foreach (var g in contrasts.GroupBy(r => (r.Group, r.Reward)))
        {
            // The headline contrast: most vs least attractive prompt (first condition vs last).
            var first = g.First().ConditionA;
            var extreme = g.Where(r => r.ConditionA == first).Last();
            var trend = trends.FirstOrDefault(t => t.Group == g.Key.Group && t.Reward == g.Key.Reward);
            var name = RewardSemantics.DisplayName(g.Key.Reward, inputs);
            if (double.IsNaN(extreme.TP))
            {
                yield return new Finding($"{name} on {g.Key.Group}: no paired test ({extreme.Note}).");
                continue;
            }
            total++;
            var significant = extreme.QValue < 0.05;
            if (significant && extreme.MeanDiff > 0) raised++;
            if (significant && extreme.MeanDiff < 0) lowered++;
            var direction = !significant ? "did not significantly change" : extreme.MeanDiff > 0 ? "raised" : "lowered";
            var text = $"{name} on {g.Key.Group}: asking for '{extreme.ConditionB}' instead of '{extreme.ConditionA}' {direction} the score " +
                       $"({Format.Signed(extreme.MeanDiff)} mean paired difference over {extreme.NPairs} seeds, d_z={Format.Num(extreme.CohensDz, 2)}, " +
                       $"paired t {Format.P(extreme.TP)}, Wilcoxon {Format.P(extreme.WilcoxonP)})";
            if (trend is not null && !double.IsNaN(trend.PearsonR))
                text += $"; r={Format.Num(trend.PearsonR, 2)} with prompt attractiveness ({Format.P(trend.PearsonP)})";
            if (trend is not null && !double.IsNaN(trend.ChiSquare))
                text += $"; Friedman χ²={Format.Num(trend.ChiSquare, 4)} ({Format.P(trend.P)})";
            yield return new Finding(text + ".");
        }
        if (total > 0)
            yield return new Finding(
                $"Overall: the most attractive prompt raised the score in {raised} and lowered it in {lowered} of {total} reward x group " +
                "combinations (BH q < 0.05 across all paired t tests).");
    }
}
