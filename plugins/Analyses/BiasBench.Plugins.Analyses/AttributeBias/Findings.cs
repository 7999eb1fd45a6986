using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;
using BiasBench.Statistics;

namespace BiasBench.Plugins.Analyses.AttributeBias;

/// <summary>Sentences for the report, written from the numbers.</summary>
internal static class Findings
{
    public static IEnumerable<Finding> Write(AttributeData data, IReadOnlyList<CorrelationRow> correlations, IReadOnlyList<PartialRow> partials,
        IReadOnlyList<(string Reward, OlsCoefficient C)> coefficients, IReadOnlyList<OlsFitRow> fits, IReadOnlyList<StratumRow> strata,
        AnalysisInputs inputs)
    {
        foreach (var reward in data.Rewards)
        {
            var name = RewardSemantics.DisplayName(reward, inputs);
            var rows = correlations.Where(r => r.Reward == reward).ToList();

            if (data.Target is { } target)
            {
                var t = rows.First(r => r.Attribute == target);
                if (double.IsNaN(t.PearsonR))
                    yield return new Finding($"{name}: no correlation with {target} ({t.Notes.FirstOrDefault() ?? "undefined"}).");
                else
                {
                    var text = $"{name}: r={Format.Num(t.PearsonR, 2)} with {target} ({Q(t.PearsonQ)}";
                    if (!double.IsNaN(t.CiLow)) text += $", {Interval(t.CiLow, t.CiHigh)}";
                    if (!double.IsNaN(t.CohensD)) text += $", d={Format.Num(t.CohensD, 2)}";
                    text += ")";
                    var parts = partials.Where(p => p.Reward == reward).Select(p => double.IsNaN(p.R)
                        ? $"undefined controlling for {Describe(p)}"
                        : $"{Format.Num(p.R, 2)} controlling for {Describe(p)}").ToList();
                    if (parts.Count > 0) text += "; partial r=" + string.Join(", ", parts);
                    var s = strata.Where(x => x.Reward == reward && x.Attribute == target).ToList();
                    if (s.Count > 0)
                        text += "; within strata " + string.Join(", ", s.Select(x => $"{data.StratifyBy}={x.Stratum}: r={Format.Num(x.PearsonR, 2)} (n={x.N})"));
                    yield return new Finding(text + ".");
                }
            }

            var tested = rows.Where(r => !double.IsNaN(r.PearsonQ)).ToList();
            var significant = tested.Where(r => r.PearsonQ < 0.05).OrderByDescending(r => Math.Abs(r.PearsonR)).ToList();
            if (tested.Count > 0)
            {
                var text = $"{name}: {significant.Count} of {tested.Count} attributes correlate at q<0.05";
                if (significant.Count > 0)
                    text += "; strongest " + string.Join(", ", significant.Take(3).Select(r => $"{r.Attribute} (r={Format.Signed(r.PearsonR, 2)})"));
                yield return new Finding(text + ".");
            }

            var fit = fits.FirstOrDefault(f => f.Reward == reward);
            if (fit is not null && !double.IsNaN(fit.R2))
            {
                var text = $"{name}: the {fit.Terms - 1} attributes explain R²={Format.Num(fit.R2, 2)} of its variance (OLS)";
                if (data.Target is { } tgt && coefficients.FirstOrDefault(c => c.Reward == reward && c.C.Name == tgt) is { C: { } c })
                    text += $"; holding the others fixed, {tgt} changes it by {Format.Signed(c.Estimate)} " +
                            $"(HC3 {(c.PHc3 is { } p ? Format.P(p) : "n/a")})";
                yield return new Finding(text + ".");
            }
            else if (fit?.Note is { } note)
                yield return new Finding($"{name}: no OLS on the attributes ({note}).");
        }
    }

    private static string Describe(PartialRow p) =>
        p.CovariateSet.StartsWith("all_other_", StringComparison.Ordinal) ? $"all {p.Covariates.Count} other attributes" : string.Join(", ", p.Covariates);

    private static string Interval(double low, double high) => $"CI {Format.Num(low, 2)} to {Format.Num(high, 2)}";

    private static string Q(double q) => double.IsNaN(q) ? "q n/a" : "q" + Format.P(q)[1..];
}
