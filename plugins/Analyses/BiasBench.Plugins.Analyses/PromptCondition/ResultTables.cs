using BiasBench.Abstractions;
using BiasBench.Statistics;

namespace BiasBench.Plugins.Analyses.PromptCondition;

internal sealed class MeansTable
{
    private readonly List<(string Group, string Reward, string Condition, int N, double Mean, double Sd)> _rows = [];

    public void Add(string group, string reward, string condition, double[] values) =>
        _rows.Add((group, reward, condition, values.Length,
            values.Length > 0 ? Descriptive.Mean(values) : double.NaN,
            values.Length > 1 ? Descriptive.StandardDeviation(values) : double.NaN));

    public DataTable Build() => new DataTable("condition_means")
        {
            Caption = "Mean reward by prompt condition (all rows with a score; sd with ddof=1, sem = sd/sqrt(n)).",
        }
        .Add("group", _rows.Select(r => (string?)r.Group).ToArray())
        .Add("reward", _rows.Select(r => (string?)r.Reward).ToArray())
        .Add("condition", _rows.Select(r => (string?)r.Condition).ToArray())
        .Add("n", _rows.Select(r => (double)r.N).ToArray())
        .Add("mean", _rows.Select(r => r.Mean).ToArray())
        .Add("sd", _rows.Select(r => r.Sd).ToArray())
        .Add("sem", _rows.Select(r => r.Sd / Math.Sqrt(r.N)).ToArray());
}

internal sealed record ContrastRow(
    string Group, string Reward, string ConditionA, string ConditionB, int NPairs, double MeanA, double MeanB,
    double MeanDiff, double SdDiff, double CiLow, double CiHigh, double T, double Df, double TP,
    double WilcoxonW, double WilcoxonP, string WilcoxonMethod, double CohensDz, double ShareBHigher, string? Note)
{
    public double QValue { get; set; } = double.NaN;
}

/// <summary>Paired differences (condition B - condition A) per seed.</summary>
internal sealed class ContrastTable
{
    public List<ContrastRow> Rows { get; } = [];

    public void Add(string group, string reward, string a, string b, double[] valuesA, double[] valuesB, double confidence)
    {
        int n = valuesA.Length;
        var diff = valuesB.Zip(valuesA, (y, x) => y - x).ToArray();
        double mean = n > 0 ? Descriptive.Mean(diff) : double.NaN;
        double sd = n > 1 ? Descriptive.StandardDeviation(diff) : double.NaN;
        double t = double.NaN, df = n - 1, tp = double.NaN, w = double.NaN, wp = double.NaN, lo = double.NaN, hi = double.NaN;
        string method = "", notes = "";
        try
        {
            var tt = PairedTests.TTest(valuesB, valuesA);
            (t, tp, df) = (tt.T, tt.P, tt.Df);
            var half = PromptConditionEffectAnalysis.TQuantile(confidence, df) * sd / Math.Sqrt(n);
            (lo, hi) = (mean - half, mean + half);
        }
        catch (Exception e) when (e is DegenerateDataException or ArgumentException) { notes += "t test: " + e.Message + " "; }
        try
        {
            var wt = PairedTests.Wilcoxon(valuesB, valuesA);
            (w, wp, method) = (wt.W, wt.P, wt.Method.ToString().ToLowerInvariant());
            if (wt.ZeroDifferences > 0) notes += $"Wilcoxon dropped {wt.ZeroDifferences} zero difference(s). ";
        }
        catch (Exception e) when (e is DegenerateDataException or ArgumentException) { notes += "Wilcoxon: " + e.Message + " "; }
        Rows.Add(new ContrastRow(group, reward, a, b, n,
            n > 0 ? Descriptive.Mean(valuesA) : double.NaN, n > 0 ? Descriptive.Mean(valuesB) : double.NaN,
            mean, sd, lo, hi, t, df, tp, w, wp, method, sd > 0 ? mean / sd : double.NaN,
            n > 0 ? diff.Count(d => d > 0) / (double)n : double.NaN, notes.Length == 0 ? null : notes.Trim()));
    }

    /// <summary>Benjamini-Hochberg across every paired t test in the analysis (all models, groups, contrasts).</summary>
    public void FillQValues()
    {
        var tested = Rows.Where(r => !double.IsNaN(r.TP)).ToList();
        if (tested.Count == 0) return;
        var q = MultipleTesting.BenjaminiHochberg(tested.Select(r => r.TP).ToList());
        for (var i = 0; i < tested.Count; i++) tested[i].QValue = q[i];
    }

    public DataTable Build(double confidence) => new DataTable("paired_differences")
        {
            Caption = $"Paired difference (condition_b - condition_a) per {"seed"}: paired t test (two-sided; {confidence:P0} t interval), " +
                      "Wilcoxon signed-rank (scipy's default: exact for n <= 50 without ties/zeros, else normal approximation without continuity correction; " +
                      "zeros dropped), Cohen's d_z = mean/sd of the differences, share of seeds where B scores higher, " +
                      "and Benjamini-Hochberg q across all rows.",
        }
        .Add("group", Rows.Select(r => (string?)r.Group).ToArray())
        .Add("reward", Rows.Select(r => (string?)r.Reward).ToArray())
        .Add("condition_a", Rows.Select(r => (string?)r.ConditionA).ToArray())
        .Add("condition_b", Rows.Select(r => (string?)r.ConditionB).ToArray())
        .Add("n_pairs", Rows.Select(r => (double)r.NPairs).ToArray())
        .Add("mean_a", Rows.Select(r => r.MeanA).ToArray())
        .Add("mean_b", Rows.Select(r => r.MeanB).ToArray())
        .Add("mean_diff", Rows.Select(r => r.MeanDiff).ToArray())
        .Add("sd_diff", Rows.Select(r => r.SdDiff).ToArray())
        .Add("ci_low", Rows.Select(r => r.CiLow).ToArray())
        .Add("ci_high", Rows.Select(r => r.CiHigh).ToArray())
        .Add("t", Rows.Select(r => r.T).ToArray())
        .Add("df", Rows.Select(r => r.Df).ToArray())
        .Add("t_p", Rows.Select(r => r.TP).ToArray())
        .Add("t_q", Rows.Select(r => r.QValue).ToArray())
        .Add("wilcoxon_w", Rows.Select(r => r.WilcoxonW).ToArray())
        .Add("wilcoxon_p", Rows.Select(r => r.WilcoxonP).ToArray())
        .Add("wilcoxon_method", Rows.Select(r => (string?)r.WilcoxonMethod).ToArray())
        .Add("cohens_dz", Rows.Select(r => r.CohensDz).ToArray())
        .Add("share_b_higher", Rows.Select(r => r.ShareBHigher).ToArray())
        .Add("note", Rows.Select(r => r.Note).ToArray());
}

internal sealed record FriedmanRow(string Group, string Reward, int K, int NBlocks, double ChiSquare, double P, double KendallW,
    double PearsonR, double PearsonP, int NRows, string? Note);

/// <summary>Friedman across all conditions (seeds as blocks) and the correlation of the reward with the prompt's attractiveness level.</summary>
internal sealed class FriedmanTable
{
    public List<FriedmanRow> Rows { get; } = [];

    public void Add(string group, string reward, int k, List<double[]> blocks, double[] level, double[] scores)
    {
        double chi = double.NaN, p = double.NaN, w = double.NaN, r = double.NaN, rp = double.NaN;
        string notes = "";
        try
        {
            var byCondition = Enumerable.Range(0, k).Select(c => blocks.Select(b => b[c]).ToArray()).ToList();
            var f = RankTests.Friedman(byCondition);
            (chi, p) = (f.Statistic, f.P);
            w = chi / (blocks.Count * (k - 1.0));
        }
        catch (Exception e) when (e is DegenerateDataException or ArgumentException) { notes += "Friedman: " + e.Message + " "; }
        try
        {
            var c = Correlation.Pearson(level, scores);
            (r, rp) = (c.R, c.P);
        }
        catch (Exception e) when (e is DegenerateDataException or ArgumentException) { notes += "Pearson: " + e.Message + " "; }
        Rows.Add(new FriedmanRow(group, reward, k, blocks.Count, chi, p, w, r, rp, scores.Length, notes.Length == 0 ? null : notes.Trim()));
    }

    public DataTable Build() => new DataTable("condition_trend")
        {
            Caption = "Friedman test across all prompt conditions (seeds as blocks; Kendall's W = chi2 / (n (k - 1))) and the Pearson " +
                      "correlation of the reward with the prompt's attractiveness level over all scored rows.",
        }
        .Add("group", Rows.Select(r => (string?)r.Group).ToArray())
        .Add("reward", Rows.Select(r => (string?)r.Reward).ToArray())
        .Add("conditions", Rows.Select(r => (double)r.K).ToArray())
        .Add("n_blocks", Rows.Select(r => (double)r.NBlocks).ToArray())
        .Add("friedman_chi2", Rows.Select(r => r.ChiSquare).ToArray())
        .Add("friedman_p", Rows.Select(r => r.P).ToArray())
        .Add("kendall_w", Rows.Select(r => r.KendallW).ToArray())
        .Add("pearson_r_level", Rows.Select(r => r.PearsonR).ToArray())
        .Add("pearson_p_level", Rows.Select(r => r.PearsonP).ToArray())
        .Add("n_rows", Rows.Select(r => (double)r.NRows).ToArray())
        .Add("note", Rows.Select(r => r.Note).ToArray());
}
