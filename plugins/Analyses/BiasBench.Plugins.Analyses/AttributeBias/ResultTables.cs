using BiasBench.Abstractions;
using BiasBench.Statistics;

namespace BiasBench.Plugins.Analyses.AttributeBias;

/// <summary>A table row whose interval a bootstrap may replace.</summary>
internal interface IIntervalRow
{
    string Reward { get; }
    double CiLow { get; set; }
    double CiHigh { get; set; }
    string? CiMethod { get; set; }
    List<string> Notes { get; }
}

internal sealed class CorrelationRow(string reward, string attribute, int n) : IIntervalRow
{
    public string Reward { get; } = reward;
    public string Attribute { get; } = attribute;
    public int N { get; } = n;
    public double PearsonR { get; set; } = double.NaN;
    public double PearsonP { get; set; } = double.NaN;
    public double PearsonQ { get; set; } = double.NaN;
    public double SpearmanRho { get; set; } = double.NaN;
    public double SpearmanP { get; set; } = double.NaN;
    public double SpearmanQ { get; set; } = double.NaN;
    public double CohensD { get; set; } = double.NaN;
    public double CiLow { get; set; } = double.NaN;
    public double CiHigh { get; set; } = double.NaN;
    public string? CiMethod { get; set; }
    public List<string> Notes { get; } = [];
}

internal sealed class PartialRow(string reward, string target, string set, IReadOnlyList<string> covariates, int n) : IIntervalRow
{
    public string Reward { get; } = reward;
    public string Target { get; } = target;
    public string CovariateSet { get; } = set;
    public IReadOnlyList<string> Covariates { get; } = covariates;
    public int N { get; } = n;
    public double RawR { get; set; } = double.NaN;

    /// <summary>The raw correlation's row (its interval is drawn next to the partial ones).</summary>
    public CorrelationRow? Raw { get; set; }
    public double R { get; set; } = double.NaN;
    public double P { get; set; } = double.NaN;
    public double Df { get; set; } = double.NaN;
    public double CiLow { get; set; } = double.NaN;
    public double CiHigh { get; set; } = double.NaN;
    public string? CiMethod { get; set; }
    public List<string> Notes { get; } = [];
}

internal sealed record OlsFitRow(string Reward, int N, int Terms, double R2, double AdjR2, double DfResid, string? Note);

internal sealed record StratumRow(string Reward, string Attribute, string Stratum, int N, double PearsonR, double PearsonP,
    double SpearmanRho, double SpearmanP, string? Note);

internal static class ResultTables
{
    public static DataTable Correlations(IReadOnlyList<CorrelationRow> rows, double confidence) => new DataTable("attribute_correlations")
        {
            Caption = "Pearson (point-biserial for 0/1 attributes) and Spearman correlation of each reward with each attribute " +
                      "(two-sided t-test p-values, scipy semantics); Benjamini-Hochberg q across the attributes of each reward; " +
                      "Cohen's d of the reward between rows with and without a binary attribute (pooled SD, ddof=1); " +
                      $"{confidence:P0} interval of pearson_r (ci_method: bootstrap for the target attribute when enabled, else Fisher z).",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("attribute", rows.Select(r => (string?)r.Attribute).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("pearson_r", rows.Select(r => r.PearsonR).ToArray())
        .Add("pearson_p", rows.Select(r => r.PearsonP).ToArray())
        .Add("pearson_q", rows.Select(r => r.PearsonQ).ToArray())
        .Add("spearman_rho", rows.Select(r => r.SpearmanRho).ToArray())
        .Add("spearman_p", rows.Select(r => r.SpearmanP).ToArray())
        .Add("spearman_q", rows.Select(r => r.SpearmanQ).ToArray())
        .Add("cohens_d", rows.Select(r => r.CohensD).ToArray())
        .Add("ci_low", rows.Select(r => r.CiLow).ToArray())
        .Add("ci_high", rows.Select(r => r.CiHigh).ToArray())
        .Add("ci_method", rows.Select(r => r.CiMethod).ToArray())
        .Add("note", rows.Select(r => Note(r.Notes)).ToArray());

    public static DataTable Partials(IReadOnlyList<PartialRow> rows, double confidence) => new DataTable("partial_correlations")
        {
            Caption = "Partial correlation of the target attribute with each reward controlling for a covariate set: Pearson r of the " +
                      "OLS residuals of both on [1, covariates], t-test on n - 2 - k degrees of freedom (pingouin.partial_corr); " +
                      $"raw_r is the plain Pearson r; {confidence:P0} interval of the partial r (bootstrap when enabled, else Fisher z).",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("target", rows.Select(r => (string?)r.Target).ToArray())
        .Add("covariate_set", rows.Select(r => (string?)r.CovariateSet).ToArray())
        .Add("covariates", rows.Select(r => (string?)string.Join(", ", r.Covariates)).ToArray())
        .Add("k", rows.Select(r => (double)r.Covariates.Count).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("raw_r", rows.Select(r => r.RawR).ToArray())
        .Add("partial_r", rows.Select(r => r.R).ToArray())
        .Add("p", rows.Select(r => r.P).ToArray())
        .Add("df", rows.Select(r => r.Df).ToArray())
        .Add("ci_low", rows.Select(r => r.CiLow).ToArray())
        .Add("ci_high", rows.Select(r => r.CiHigh).ToArray())
        .Add("ci_method", rows.Select(r => r.CiMethod).ToArray())
        .Add("note", rows.Select(r => Note(r.Notes)).ToArray());

    public static DataTable OlsCoefficients(IReadOnlyList<(string Reward, OlsCoefficient C)> rows) => new DataTable("ols_coefficients")
        {
            Caption = "OLS of each reward on all (non-constant) attributes plus an intercept ('const'): classic SE (sigma^2 = SSR/df_resid) " +
                      "and HC3 heteroskedasticity-robust SE, two-sided t-tests on df_resid (statsmodels semantics).",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("term", rows.Select(r => (string?)r.C.Name).ToArray())
        .Add("estimate", rows.Select(r => r.C.Estimate).ToArray())
        .Add("se", rows.Select(r => r.C.Se).ToArray())
        .Add("t", rows.Select(r => r.C.T).ToArray())
        .Add("p", rows.Select(r => r.C.P).ToArray())
        .Add("se_hc3", rows.Select(r => r.C.SeHc3 ?? double.NaN).ToArray())
        .Add("t_hc3", rows.Select(r => r.C.THc3 ?? double.NaN).ToArray())
        .Add("p_hc3", rows.Select(r => r.C.PHc3 ?? double.NaN).ToArray());

    public static DataTable OlsFit(IReadOnlyList<OlsFitRow> rows) => new DataTable("ols_fit")
        {
            Caption = "Fit of the OLS of each reward on all attributes (terms include the intercept).",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("terms", rows.Select(r => (double)r.Terms).ToArray())
        .Add("r2", rows.Select(r => r.R2).ToArray())
        .Add("adj_r2", rows.Select(r => r.AdjR2).ToArray())
        .Add("df_resid", rows.Select(r => r.DfResid).ToArray())
        .Add("note", rows.Select(r => r.Note).ToArray());

    public static DataTable Stratified(IReadOnlyList<StratumRow> rows, string stratifyBy) => new DataTable("stratified_correlations")
        {
            Caption = $"Pearson and Spearman correlation of each reward with each attribute within each value of '{stratifyBy}'.",
        }
        .Add("reward", rows.Select(r => (string?)r.Reward).ToArray())
        .Add("attribute", rows.Select(r => (string?)r.Attribute).ToArray())
        .Add("stratify_by", rows.Select(_ => (string?)stratifyBy).ToArray())
        .Add("stratum", rows.Select(r => (string?)r.Stratum).ToArray())
        .Add("n", rows.Select(r => (double)r.N).ToArray())
        .Add("pearson_r", rows.Select(r => r.PearsonR).ToArray())
        .Add("pearson_p", rows.Select(r => r.PearsonP).ToArray())
        .Add("spearman_rho", rows.Select(r => r.SpearmanRho).ToArray())
        .Add("spearman_p", rows.Select(r => r.SpearmanP).ToArray())
        .Add("note", rows.Select(r => r.Note).ToArray());

    private static string? Note(List<string> notes) => notes.Count == 0 ? null : string.Join(" ", notes);
}
