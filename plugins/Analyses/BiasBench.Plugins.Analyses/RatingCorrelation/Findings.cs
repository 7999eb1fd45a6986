using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;

namespace BiasBench.Plugins.Analyses.RatingCorrelation;

/// <summary>Sentences for the report, written from the numbers.</summary>
internal static class Findings
{
    public static IEnumerable<Finding> Write(RatingData data, IReadOnlyList<CorrelationRow> correlations, IReadOnlyList<PartialRow> partials,
        IReadOnlyList<DifferenceRow> differences, IReadOnlyList<HomogeneityRow> homogeneity, IReadOnlyList<SlopeRow> slopes, AnalysisInputs inputs)
    {
        var pooled = new List<(string Name, CorrelationRow Row)>();
        foreach (var reward in data.Rewards)
        {
            var name = RewardSemantics.DisplayName(reward, inputs);
            var all = correlations.First(c => c.Reward == reward && c.Scope == RatingData.AllScope);
            if (double.IsNaN(all.PearsonR))
            {
                yield return new Finding($"{name}: no correlation with {data.Rating} ({all.Notes.FirstOrDefault() ?? "undefined"}).");
                continue;
            }
            pooled.Add((name, all));
            var text = $"{name}: r={Format.Num(all.PearsonR, 2)} with {data.Rating} ({Interval(all)}, {Format.P(all.PearsonP)}; " +
                       $"Spearman ρ={Format.Num(all.SpearmanRho, 2)}) over {all.N} faces";
            var slope = slopes.FirstOrDefault(s => s.Reward == reward && s.Scope == RatingData.AllScope);
            if (slope is not null && !double.IsNaN(slope.Slope))
                text += $"; the score changes by {Format.Signed(slope.Slope)} per rating point" +
                        (double.IsNaN(slope.SeHc3) ? "" : $" (HC3 SE {Format.Num(slope.SeHc3, 2)})");
            var groups = correlations.Where(c => c.Reward == reward && c.Scope != RatingData.AllScope && !double.IsNaN(c.PearsonR)).ToList();
            if (groups.Count > 0)
            {
                var low = groups.MinBy(c => c.PearsonR)!;
                var high = groups.MaxBy(c => c.PearsonR)!;
                text += groups.Count == 1
                    ? $"; within {data.GroupColumn} {low.Scope} r={Format.Num(low.PearsonR, 2)}"
                    : $"; within {data.GroupColumn} r ranges from {Format.Num(low.PearsonR, 2)} ({low.Scope}) to {Format.Num(high.PearsonR, 2)} ({high.Scope})";
            }
            if (partials.FirstOrDefault(p => p.Reward == reward) is { } partial && !double.IsNaN(partial.R))
                text += $"; adjusted for {data.GroupColumn} r={Format.Num(partial.R, 2)} ({Format.P(partial.P)})";
            if (homogeneity.FirstOrDefault(h => h.Reward == reward) is { } h && !double.IsNaN(h.P))
                text += h.P < 0.05
                    ? $"; the correlation differs between groups (χ²({h.Df})={Format.Num(h.ChiSquare, 3)}, {Format.P(h.P)})"
                    : $"; no evidence that it differs between groups (χ²({h.Df})={Format.Num(h.ChiSquare, 3)}, {Format.P(h.P)})";
            yield return new Finding(text + ".");

            var significant = differences.Where(d => d.Reward == reward && d.Q < 0.05).ToList();
            if (significant.Count > 0)
                yield return new Finding($"{name}: pairs of groups whose correlations differ (BH q < 0.05): " +
                    string.Join(", ", significant.Select(d => $"{d.GroupA} r={Format.Num(d.RA, 2)} vs {d.GroupB} r={Format.Num(d.RB, 2)} (q={Format.Num(d.Q, 2)})")) + ".");
        }

        if (pooled.Count >= 2)
        {
            var ordered = pooled.OrderByDescending(p => p.Row.PearsonR).ToList();
            yield return new Finding($"Ranked by how closely the score follows {data.Rating} (Pearson r over all faces): " +
                string.Join(" > ", ordered.Select(p => $"{p.Name} ({Format.Num(p.Row.PearsonR, 2)})")) +
                ". A positive r means the reward prefers the faces people rate as more attractive.");
        }
    }

    private static string Interval(CorrelationRow c) => double.IsNaN(c.PearsonBootLow)
        ? $"Fisher-z [{Format.Num(c.PearsonLow, 2)}, {Format.Num(c.PearsonHigh, 2)}]"
        : $"bootstrap [{Format.Num(c.PearsonBootLow, 2)}, {Format.Num(c.PearsonBootHigh, 2)}]";
}
