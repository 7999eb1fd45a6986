using BiasBench.Abstractions;

namespace BiasBench.Plugins.Analyses.RatingCorrelation;

/// <summary>Pearson and Spearman of the rating with one reward in one scope (all rows or one group).</summary>
internal sealed class CorrelationRow(string reward, string scope, int n)
{
    public string Reward { get; } = reward;
    public string Scope { get; } = scope;
    public int N { get; } = n;
    public double PearsonR { get; set; } = double.NaN;
    public double PearsonP { get; set; } = double.NaN;
    public double PearsonLow { get; set; } = double.NaN;
    public double PearsonHigh { get; set; } = double.NaN;
    public double PearsonBootLow { get; set; } = double.NaN;
    public double PearsonBootHigh { get; set; } = double.NaN;
    public double SpearmanRho { get; set; } = double.NaN;
    public double SpearmanP { get; set; } = double.NaN;
    public double SpearmanLow { get; set; } = double.NaN;
    public double SpearmanHigh { get; set; } = double.NaN;
    public double SpearmanBootLow { get; set; } = double.NaN;
    public double SpearmanBootHigh { get; set; } = double.NaN;
    public List<string> Notes { get; } = [];
}

/// <summary>Partial correlation of the rating with one reward given the group dummies.</summary>
internal sealed class PartialRow(string reward, string covariates, int n, int k)
{
    public string Reward { get; } = reward;
    public string Covariates { get; } = covariates;
    public int N { get; } = n;
    public int K { get; } = k;
    public double RawR { get; set; } = double.NaN;
    public double R { get; set; } = double.NaN;
    public double P { get; set; } = double.NaN;
    public double Df { get; set; } = double.NaN;
    public double Low { get; set; } = double.NaN;
    public double High { get; set; } = double.NaN;
    public double BootLow { get; set; } = double.NaN;
    public double BootHigh { get; set; } = double.NaN;
    public List<string> Notes { get; } = [];
}

/// <summary>Fisher z test of equal Pearson correlations in two groups.</summary>
internal sealed class DifferenceRow(string reward, string groupA, string groupB, int na, int nb)
{
    public string Reward { get; } = reward;
    public string GroupA { get; } = groupA;
    public string GroupB { get; } = groupB;
    public int NA { get; } = na;
    public int NB { get; } = nb;
    public double RA { get; set; } = double.NaN;
    public double RB { get; set; } = double.NaN;
    public double Z { get; set; } = double.NaN;
    public double P { get; set; } = double.NaN;
    public double Q { get; set; } = double.NaN;
    public List<string> Notes { get; } = [];
}

/// <summary>Chi-square test that the Pearson correlation is the same in every group.</summary>
internal sealed class HomogeneityRow(string reward)
{
    public string Reward { get; } = reward;
    public List<string> Tested { get; } = [];
    public int N { get; set; }
    public double ChiSquare { get; set; } = double.NaN;
    public double Df { get; set; } = double.NaN;
    public double P { get; set; } = double.NaN;
    public double PooledR { get; set; } = double.NaN;
    public List<string> Notes { get; } = [];
}

/// <summary>OLS slope of a reward on the rating in one scope, or within groups (group dummies as covariates).</summary>
internal sealed class SlopeRow(string reward, string scope, int n)
{
    public string Reward { get; } = reward;
    public string Scope { get; } = scope;
    public int N { get; } = n;
    public double Slope { get; set; } = double.NaN;
    public double Intercept { get; set; } = double.NaN;
    public double Se { get; set; } = double.NaN;
    public double SeHc3 { get; set; } = double.NaN;
    public double THc3 { get; set; } = double.NaN;
    public double PHc3 { get; set; } = double.NaN;
    public double LowHc3 { get; set; } = double.NaN;
    public double HighHc3 { get; set; } = double.NaN;
    public double R2 { get; set; } = double.NaN;
    public double DfResid { get; set; } = double.NaN;
    public List<string> Notes { get; } = [];
}

internal static class ResultTables
{
    /// <summary>The bootstrap columns are left out when the bootstrap is off (<paramref name="bootstrap"/> null).</summary>
    public static DataTable Correlations(IReadOnlyList<CorrelationRow> rows, string rating, double confidence, string? bootstrap)
    {
        var table = new DataTable("rating_correlations")
        {
            Caption = $"Correlation of '{rating}' with each reward, over all rows and within each group. Pearson r with scipy.stats.pearsonr's p; " +
                      $"Spearman rho (average ranks) with the t-approximation p of scipy.stats.spearmanr. {confidence:P0} intervals: Fisher z " +
                      $"(Pearson: variance 1/(n-3); Spearman: Bonett-Wright variance (1+rho^2/2)/(n-3)){Bootstrapped(bootstrap)}.",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("scope", rows.Select(r => (string?)r.Scope).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("pearson_r", rows.Select(r => r.PearsonR).ToArray())
        .Add("pearson_p", rows.Select(r => r.PearsonP).ToArray())
        .Add("pearson_ci_low", rows.Select(r => r.PearsonLow).ToArray())
        .Add("pearson_ci_high", rows.Select(r => r.PearsonHigh).ToArray());
        if (bootstrap is not null)
            table.Add("pearson_boot_low", rows.Select(r => r.PearsonBootLow).ToArray())
                .Add("pearson_boot_high", rows.Select(r => r.PearsonBootHigh).ToArray());
        table.Add("spearman_rho", rows.Select(r => r.SpearmanRho).ToArray())
            .Add("spearman_p", rows.Select(r => r.SpearmanP).ToArray())
            .Add("spearman_ci_low", rows.Select(r => r.SpearmanLow).ToArray())
            .Add("spearman_ci_high", rows.Select(r => r.SpearmanHigh).ToArray());
        if (bootstrap is not null)
            table.Add("spearman_boot_low", rows.Select(r => r.SpearmanBootLow).ToArray())
                .Add("spearman_boot_high", rows.Select(r => r.SpearmanBootHigh).ToArray());
        return table.Add("note", rows.Select(r => Note(r.Notes)).ToArray());
    }

    public static DataTable Partials(IReadOnlyList<PartialRow> rows, string rating, double confidence, string? bootstrap)
    {
        var table = new DataTable("rating_partial_correlations")
        {
            Caption = $"Group-adjusted correlation: partial r of '{rating}' and each reward given the group dummies (the correlation within groups, " +
                      $"pooled), t test on n-2-k df (pingouin.partial_corr); raw_r is the plain Pearson r. {confidence:P0} intervals: Fisher z " +
                      $"(variance 1/(n-3-k)){Bootstrapped(bootstrap)}.",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("covariates", rows.Select(r => (string?)r.Covariates).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("k", rows.Select(r => (double)r.K).ToArray())
        .Add("raw_r", rows.Select(r => r.RawR).ToArray())
        .Add("partial_r", rows.Select(r => r.R).ToArray())
        .Add("df", rows.Select(r => r.Df).ToArray())
        .Add("p", rows.Select(r => r.P).ToArray())
        .Add("ci_low", rows.Select(r => r.Low).ToArray())
        .Add("ci_high", rows.Select(r => r.High).ToArray());
        if (bootstrap is not null)
            table.Add("boot_low", rows.Select(r => r.BootLow).ToArray()).Add("boot_high", rows.Select(r => r.BootHigh).ToArray());
        return table.Add("note", rows.Select(r => Note(r.Notes)).ToArray());
    }

    public static DataTable Differences(IReadOnlyList<DifferenceRow> rows, string groupColumn) => new DataTable("rating_group_differences")
        {
            Caption = $"Does the Pearson correlation differ between two values of '{groupColumn}'? Fisher z test for independent samples: " +
                      "z = (atanh r_a - atanh r_b) / sqrt(1/(n_a-3) + 1/(n_b-3)), two-sided normal p; q: Benjamini-Hochberg over the pairs of each reward.",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("group_a", rows.Select(r => (string?)r.GroupA).ToArray())
        .Add("group_b", rows.Select(r => (string?)r.GroupB).ToArray())
        .Add("n_a", rows.Select(r => (double)r.NA).ToArray())
        .Add("n_b", rows.Select(r => (double)r.NB).ToArray())
        .Add("r_a", rows.Select(r => r.RA).ToArray())
        .Add("r_b", rows.Select(r => r.RB).ToArray())
        .Add("z", rows.Select(r => r.Z).ToArray())
        .Add("p", rows.Select(r => r.P).ToArray())
        .Add("q", rows.Select(r => r.Q).ToArray())
        .Add("note", rows.Select(r => Note(r.Notes)).ToArray());

    public static DataTable Homogeneity(IReadOnlyList<HomogeneityRow> rows, string groupColumn) => new DataTable("rating_group_homogeneity")
        {
            Caption = $"Is the Pearson correlation the same in every value of '{groupColumn}'? Q = sum (n_i-3)(atanh r_i - z_w)^2, chi-square on " +
                      "groups-1 df; pooled_r = tanh of the (n_i-3)-weighted mean z.",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("groups", rows.Select(r => (string?)string.Join(" ", r.Tested)).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("chi2", rows.Select(r => r.ChiSquare).ToArray())
        .Add("df", rows.Select(r => r.Df).ToArray())
        .Add("p", rows.Select(r => r.P).ToArray())
        .Add("pooled_r", rows.Select(r => r.PooledR).ToArray())
        .Add("note", rows.Select(r => Note(r.Notes)).ToArray());

    public static DataTable Slopes(IReadOnlyList<SlopeRow> rows, string rating, double confidence) => new DataTable("rating_slopes")
        {
            Caption = $"OLS of each reward on '{rating}' (score change per rating point), over all rows, within each group, and 'within groups' " +
                      $"(one intercept per group: group dummies as covariates). Classic and HC3 standard errors; t_hc3, p_hc3 and the {confidence:P0} " +
                      "interval use HC3 with t on df_resid (statsmodels OLS.fit(cov_type='HC3', use_t=True)).",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("scope", rows.Select(r => (string?)r.Scope).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("slope", rows.Select(r => r.Slope).ToArray())
        .Add("intercept", rows.Select(r => r.Intercept).ToArray())
        .Add("se", rows.Select(r => r.Se).ToArray())
        .Add("se_hc3", rows.Select(r => r.SeHc3).ToArray())
        .Add("t_hc3", rows.Select(r => r.THc3).ToArray())
        .Add("p_hc3", rows.Select(r => r.PHc3).ToArray())
        .Add("ci_low_hc3", rows.Select(r => r.LowHc3).ToArray())
        .Add("ci_high_hc3", rows.Select(r => r.HighHc3).ToArray())
        .Add("r2", rows.Select(r => r.R2).ToArray())
        .Add("df_resid", rows.Select(r => r.DfResid).ToArray())
        .Add("note", rows.Select(r => Note(r.Notes)).ToArray());

    private static string Bootstrapped(string? bootstrap) => bootstrap is null ? "" : $" and {bootstrap}";

    private static string? Note(List<string> notes) => notes.Count == 0 ? null : string.Join(" ", notes.Distinct());
}
