using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.RatingCorrelation;
using BiasBench.Plugins.Analyses.Tests.Support;
using BiasBench.Plugins.Datasets;
using BiasBench.Statistics;
using BiasBench.TestSupport;
using MathNet.Numerics.Distributions;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.RatingCorrelation;

/// <summary>
/// The rating analysis on the real SCUT-FBP5500 labels (5,500 mean beauty ratings in the groups AF/AM/CF/CM, and the official
/// 60/40 test split) with reward scores derived in the test from each file name and rating. Every number is checked to 1e-6
/// relative (p-values: 1e-6 absolute or relative, whichever is looser) against the textbook formulas in <see cref="Textbook"/>,
/// and against the library functions whose results are pinned to scipy/statsmodels by the fixture tests.
/// </summary>
public class RatingCorrelationTests
{
    private const double Confidence = 0.95;
    private static readonly string[] Rewards = ["aligned", "group_dependent", "independent"];

    /// <summary>A fixed pseudo-random number in [0, 1) from a file name (FNV-1a, then a murmur-style mix).</summary>
    private static double Unit(string file, uint salt)
    {
        var h = 2166136261u;
        foreach (var c in file) { h ^= c; h *= 16777619u; }
        h ^= salt * 0x9E3779B9u;
        h ^= h >> 15; h *= 0x2C1B3C6Du; h ^= h >> 12; h *= 0x297A2D39u; h ^= h >> 15;
        return h / 4294967296.0;
    }

    /// <summary>One score per reward and label row: following the rating, following it with a group-specific slope, and unrelated.
    /// The scores must not depend on which rows are loaded: the split test derives them from All_labels.txt too.</summary>
    private static DataTable Scores(DataTable labels)
    {
        var files = labels.Text("file").Values;
        var beauty = labels.Numeric("beauty").Values;
        var groups = labels.Text("group").Values;
        // A steeper slope for each later group (AF, AM, CF, CM in SCUT-FBP5500), so the correlation differs between groups.
        var levels = groups.Distinct().Order(StringComparer.Ordinal).ToList();
        var slope = levels.ToDictionary(g => g!, g => 0.05 + 0.3 * levels.IndexOf(g));
        var n = files.Length;
        return new DataTable("scores")
            .Add("image_id", labels.Text("image_id").Values.ToArray())
            .Add("aligned", Enumerable.Range(0, n).Select(i => 0.8 * beauty[i] + 0.6 * (Unit(files[i]!, 1) - 0.5)).ToArray())
            .Add("group_dependent", Enumerable.Range(0, n).Select(i => slope[groups[i]!] * beauty[i] + 0.8 * (Unit(files[i]!, 2) - 0.5)).ToArray())
            .Add("independent", Enumerable.Range(0, n).Select(i => Unit(files[i]!, 3)).ToArray());
    }

    private static async Task<DataTable> Labels(string relative) =>
        (await new ScutFbpDataset(new ScutFbpOptions { Path = Fixtures.Data(relative) }).LoadAsync(TestContext.Current.CancellationToken)).Table;

    private static Task<AnalysisResult> Run(DataTable scores, DataTable labels, RatingCorrelationOptions options) =>
        new RatingCorrelationAnalysis(options).RunAsync(
            new AnalysisInputs(new Dictionary<string, DataTable> { ["scores"] = scores, ["labels"] = labels }), NullLogger.Instance, TestContext.Current.CancellationToken);

    [Fact]
    public async Task All_5500_faces_match_the_textbook_formulas_and_the_verified_library()
    {
        var labels = await Labels("scut_fbp5500/All_labels.txt");
        var scores = Scores(labels);
        var options = new RatingCorrelationOptions
        {
            Rewards = [.. Rewards],
            Bootstrap = new RatingCorrelationBootstrapOptions { Resamples = 200, Seed = 7, Method = BootstrapMethod.Percentile },
        };
        var result = await Run(scores, labels, options);
        var checks = CheckAgainstTextbook(labels, scores, result);
        Assert.True(checks > 400, $"only {checks} values compared");
        CheckBootstrapAgainstLibrary(labels, scores, result, options.Bootstrap);

        // The constructed scores: the group-specific slope makes the correlation differ between groups, the unrelated score does not.
        var homogeneity = Table(result, "rating_group_homogeneity");
        Assert.True(Expect.Num(homogeneity, "p", Expect.Row(homogeneity, ("reward", "group_dependent"))) < 1e-10);
        var groupCount = labels.Text("group").Values.Distinct().Count();
        Assert.Equal(groupCount - 1, Expect.Num(homogeneity, "df", Expect.Row(homogeneity, ("reward", "aligned"))));
        Assert.Contains(result.Findings, f => f.Text.StartsWith("group_dependent:", StringComparison.Ordinal) && f.Text.Contains("differs between groups"));
        Assert.Contains(result.Findings, f => f.Text.StartsWith("Ranked by", StringComparison.Ordinal) && f.Text.IndexOf("aligned", StringComparison.Ordinal) < f.Text.IndexOf("independent", StringComparison.Ordinal));

        var figure = Assert.Single(result.Figures);
        Assert.Equal("rating-scatter", figure.Name);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, figure.Png[..4]);
        Assert.StartsWith("<svg", figure.Svg!, StringComparison.Ordinal);
        AssertNoSilentNaN(result);
    }

    [Fact]
    public async Task The_official_60_40_test_split_matches_the_textbook_formulas()
    {
        var all = await Labels("scut_fbp5500/All_labels.txt");
        var test = await Labels("scut_fbp5500/split_60train_40test/test.txt");
        // Scores for every face, as a score stage over all 5,500 images gives them; the join keeps the test split.
        var result = await Run(Scores(all), test, new RatingCorrelationOptions { Rewards = [.. Rewards], Bootstrap = new() { Resamples = 0 } });
        Assert.Contains(result.Warnings, w => w.Contains($"{all.RowCount - test.RowCount} of {all.RowCount} rows of 'scores' have no match", StringComparison.Ordinal));
        var testScores = Scores(all).SelectRows(test.Text("image_id").Values.Select(id => Array.IndexOf(all.Text("image_id").Values, id)).ToList());
        Assert.True(CheckAgainstTextbook(test, testScores, result) > 400);
        var correlations = Table(result, "rating_correlations");
        Assert.Equal(test.RowCount, (int)Expect.Num(correlations, "n", Expect.Row(correlations, ("reward", "aligned"), ("scope", "all"))));
        Assert.DoesNotContain("pearson_boot_low", correlations.Columns.Select(c => c.Name));
        AssertNoSilentNaN(result);
    }

    /// <summary>Checks every statistic of <paramref name="result"/>; returns the number of values compared.</summary>
    private static int CheckAgainstTextbook(DataTable labels, DataTable scores, AnalysisResult result)
    {
        var checks = 0;
        void Close(double expected, double actual, string what, bool isP = false) { Expect.Close(expected, actual, what, isP); checks++; }
        var beauty = labels.Numeric("beauty").Values;
        var groups = labels.Text("group").Values.Select(g => g!).ToArray();
        var levels = groups.Distinct().Order(StringComparer.Ordinal).ToArray();
        var correlations = Table(result, "rating_correlations");
        var partials = Table(result, "rating_partial_correlations");
        var differences = Table(result, "rating_group_differences");
        var homogeneity = Table(result, "rating_group_homogeneity");
        var slopes = Table(result, "rating_slopes");
        Assert.Equal(Rewards.Length * (levels.Length + 1), correlations.RowCount);
        Assert.Equal(Rewards.Length * (levels.Length + 2), slopes.RowCount);

        foreach (var reward in Rewards)
        {
            var score = scores.Numeric(reward).Values;
            var byGroup = new Dictionary<string, (double R, int N)>();
            foreach (var scope in levels.Prepend("all"))
            {
                var rows = Enumerable.Range(0, beauty.Length).Where(i => scope == "all" || groups[i] == scope).ToArray();
                var x = rows.Select(i => beauty[i]).ToArray();
                var y = rows.Select(i => score[i]).ToArray();
                var n = rows.Length;
                var at = Expect.Row(correlations, ("reward", reward), ("scope", scope));
                var what = $"{reward} {scope}";
                Assert.Equal(n, (int)Expect.Num(correlations, "n", at));

                var r = Textbook.Pearson(x, y);
                var rho = Textbook.Spearman(x, y);
                Close(r, Expect.Num(correlations, "pearson_r", at), what + " pearson_r");
                Close(Correlation.Pearson(x, y).R, Expect.Num(correlations, "pearson_r", at), what + " pearson_r (library)");
                Close(Textbook.CorrelationP(r, n - 2), Expect.Num(correlations, "pearson_p", at), what + " pearson_p", isP: true);
                Close(rho, Expect.Num(correlations, "spearman_rho", at), what + " spearman_rho");
                Close(Correlation.Spearman(x, y).R, Expect.Num(correlations, "spearman_rho", at), what + " spearman_rho (library)");
                Close(Textbook.CorrelationP(rho, n - 2), Expect.Num(correlations, "spearman_p", at), what + " spearman_p", isP: true);
                var (lo, hi) = Textbook.FisherInterval(r, 1.0 / (n - 3), Confidence);
                Close(lo, Expect.Num(correlations, "pearson_ci_low", at), what + " pearson_ci_low");
                Close(hi, Expect.Num(correlations, "pearson_ci_high", at), what + " pearson_ci_high");
                (lo, hi) = Textbook.FisherInterval(rho, (1 + rho * rho / 2) / (n - 3), Confidence);
                Close(lo, Expect.Num(correlations, "spearman_ci_low", at), what + " spearman_ci_low");
                Close(hi, Expect.Num(correlations, "spearman_ci_high", at), what + " spearman_ci_high");
                if (scope != "all") byGroup[scope] = (r, n);

                CheckSlope(slopes, reward, scope, x, y, Enumerable.Repeat(scope, n).ToArray(), Close);
                var library = Ols.Fit(y, [x], ["beauty"]);
                Close(library.Params[1], Expect.Num(slopes, "slope", Expect.Row(slopes, ("reward", reward), ("scope", scope))), what + " slope (library)");
                Close(library.SeHc3![1], Expect.Num(slopes, "se_hc3", Expect.Row(slopes, ("reward", reward), ("scope", scope))), what + " se_hc3 (library)");
            }
            CheckSlope(slopes, reward, RatingCorrelationAnalysis.WithinGroups, beauty, score, groups, Close);

            // Group-adjusted: the partial correlation given the group dummies is the correlation of within-group deviations.
            var p = Expect.Row(partials, ("reward", reward));
            var k = levels.Length - 1;
            var partial = Textbook.WithinGroupCorrelation(beauty, score, groups);
            Assert.Equal(k, (int)Expect.Num(partials, "k", p));
            Close(partial, Expect.Num(partials, "partial_r", p), reward + " partial_r");
            var dummies = levels.Skip(1).Select(g => groups.Select(v => v == g ? 1.0 : 0.0).ToArray()).ToArray();
            Close(Correlation.Partial(beauty, score, dummies).R, Expect.Num(partials, "partial_r", p), reward + " partial_r (library)");
            Close(Textbook.CorrelationP(partial, beauty.Length - 2 - k), Expect.Num(partials, "p", p), reward + " partial p", isP: true);
            Assert.Equal(beauty.Length - 2 - k, (int)Expect.Num(partials, "df", p));
            var (plo, phi) = Textbook.FisherInterval(partial, 1.0 / (beauty.Length - 3 - k), Confidence);
            Close(plo, Expect.Num(partials, "ci_low", p), reward + " partial ci_low");
            Close(phi, Expect.Num(partials, "ci_high", p), reward + " partial ci_high");
            Close(Textbook.Pearson(beauty, score), Expect.Num(partials, "raw_r", p), reward + " raw_r");

            // Fisher z difference of every pair of groups, BH over the pairs of this reward.
            var pairs = new List<(string A, string B, double P)>();
            for (var i = 0; i < levels.Length; i++)
            for (var j = i + 1; j < levels.Length; j++)
            {
                var (a, b) = (byGroup[levels[i]], byGroup[levels[j]]);
                var z = (Math.Atanh(a.R) - Math.Atanh(b.R)) / Math.Sqrt(1.0 / (a.N - 3) + 1.0 / (b.N - 3));
                var d = Expect.Row(differences, ("reward", reward), ("group_a", levels[i]), ("group_b", levels[j]));
                Close(z, Expect.Num(differences, "z", d), $"{reward} {levels[i]}-{levels[j]} z");
                Close(Textbook.TwoSidedNormal(z), Expect.Num(differences, "p", d), $"{reward} {levels[i]}-{levels[j]} p", isP: true);
                pairs.Add((levels[i], levels[j], Textbook.TwoSidedNormal(z)));
            }
            var q = Textbook.BenjaminiHochberg(pairs.Select(x => x.P).ToList());
            for (var i = 0; i < pairs.Count; i++)
                Close(q[i], Expect.Num(differences, "q", Expect.Row(differences, ("reward", reward), ("group_a", pairs[i].A), ("group_b", pairs[i].B))),
                    $"{reward} {pairs[i].A}-{pairs[i].B} q", isP: true);

            // Homogeneity of the k correlations: Q = sum (n_i - 3)(z_i - zbar_w)^2 on k - 1 df.
            var zs = levels.Select(g => Math.Atanh(byGroup[g].R)).ToArray();
            var w = levels.Select(g => byGroup[g].N - 3.0).ToArray();
            var mean = zs.Select((z, i) => w[i] * z).Sum() / w.Sum();
            var chi2 = zs.Select((z, i) => w[i] * (z - mean) * (z - mean)).Sum();
            var hrow = Expect.Row(homogeneity, ("reward", reward));
            Close(chi2, Expect.Num(homogeneity, "chi2", hrow), reward + " homogeneity chi2");
            Close(1 - ChiSquared.CDF(levels.Length - 1, chi2), Expect.Num(homogeneity, "p", hrow), reward + " homogeneity p", isP: true);
            Close(Math.Tanh(mean), Expect.Num(homogeneity, "pooled_r", hrow), reward + " pooled_r");
            Assert.Equal(beauty.Length, (int)Expect.Num(homogeneity, "n", hrow));
        }
        return checks;
    }

    private static void CheckSlope(DataTable slopes, string reward, string scope, double[] x, double[] y, string[] groups, Action<double, double, string, bool> close)
    {
        var fit = Textbook.WithinGroupSlope(x, y, groups);
        var at = Expect.Row(slopes, ("reward", reward), ("scope", scope));
        var what = $"{reward} {scope} slope";
        Assert.Equal(x.Length, (int)Expect.Num(slopes, "n", at));
        close(fit.Slope, Expect.Num(slopes, "slope", at), what, false);
        close(fit.Se, Expect.Num(slopes, "se", at), what + " se", false);
        close(fit.SeHc3, Expect.Num(slopes, "se_hc3", at), what + " se_hc3", false);
        close(fit.Slope / fit.SeHc3, Expect.Num(slopes, "t_hc3", at), what + " t_hc3", false);
        close(Textbook.TwoSidedT(fit.Slope / fit.SeHc3, fit.Df), Expect.Num(slopes, "p_hc3", at), what + " p_hc3", true);
        var t = StudentT.InvCDF(0, 1, fit.Df, 1 - (1 - Confidence) / 2);
        close(fit.Slope - t * fit.SeHc3, Expect.Num(slopes, "ci_low_hc3", at), what + " ci_low_hc3", false);
        close(fit.Slope + t * fit.SeHc3, Expect.Num(slopes, "ci_high_hc3", at), what + " ci_high_hc3", false);
        close(fit.R2, Expect.Num(slopes, "r2", at), what + " r2", false);
        close(fit.Df, Expect.Num(slopes, "df_resid", at), what + " df_resid", false);
        if (!double.IsNaN(fit.Intercept)) close(fit.Intercept, Expect.Num(slopes, "intercept", at), what + " intercept", false);
    }

    /// <summary>The bootstrap intervals are the library's (pinned to scipy.stats.bootstrap by its fixture tests), resampling within each scope.</summary>
    private static void CheckBootstrapAgainstLibrary(DataTable labels, DataTable scores, AnalysisResult result, RatingCorrelationBootstrapOptions b)
    {
        var beauty = labels.Numeric("beauty").Values;
        var groups = labels.Text("group").Values.Select(g => g!).ToArray();
        var correlations = Table(result, "rating_correlations");
        var partials = Table(result, "rating_partial_correlations");
        foreach (var reward in Rewards)
        {
            var score = scores.Numeric(reward).Values;
            // Pooled, and the smallest group (the bootstrap resamples within it).
            var smallest = groups.GroupBy(g => g).OrderBy(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;
            foreach (var scope in new[] { "all", smallest })
            {
                var rows = Enumerable.Range(0, beauty.Length).Where(i => scope == "all" || groups[i] == scope).ToArray();
                double[] x = rows.Select(i => beauty[i]).ToArray(), y = rows.Select(i => score[i]).ToArray();
                var at = Expect.Row(correlations, ("reward", reward), ("scope", scope));
                var pearson = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Pearson, b.Method, b.Resamples, Confidence, b.Seed);
                Expect.Close(pearson.Lower, Expect.Num(correlations, "pearson_boot_low", at), $"{reward} {scope} pearson_boot_low");
                Expect.Close(pearson.Upper, Expect.Num(correlations, "pearson_boot_high", at), $"{reward} {scope} pearson_boot_high");
                var spearman = Bootstrap.CorrelationCi(x, y, CorrelationMethod.Spearman, b.Method, b.Resamples, Confidence, b.Seed);
                Expect.Close(spearman.Lower, Expect.Num(correlations, "spearman_boot_low", at), $"{reward} {scope} spearman_boot_low");
                Expect.Close(spearman.Upper, Expect.Num(correlations, "spearman_boot_high", at), $"{reward} {scope} spearman_boot_high");
            }
            var levels = groups.Distinct().Order(StringComparer.Ordinal).ToArray();
            var dummies = levels.Skip(1).Select(g => groups.Select(v => v == g ? 1.0 : 0.0).ToArray()).ToArray();
            var partial = Bootstrap.PartialCorrelationCi(beauty, score, dummies, b.Method, b.Resamples, Confidence, b.Seed);
            var p = Expect.Row(partials, ("reward", reward));
            Expect.Close(partial.Lower, Expect.Num(partials, "boot_low", p), $"{reward} partial boot_low");
            Expect.Close(partial.Upper, Expect.Num(partials, "boot_high", p), $"{reward} partial boot_high");
        }
    }

    [Fact]
    public async Task Too_few_rows_a_constant_column_and_a_missing_score_give_notes_never_a_silent_NaN()
    {
        // Group A: 3 faces; B: 'flat' constant; C: regular; D: the rating itself constant. One score missing (a failed image).
        string[] groups = ["A", "A", "A", "B", "B", "B", "B", "B", "B", "C", "C", "C", "C", "C", "C", "C", "D", "D", "D", "D", "D"];
        var n = groups.Length;
        var rating = Enumerable.Range(0, n).Select(i => groups[i] == "D" ? 3.0 : 1 + (i * 7 % 11) / 3.0).ToArray();
        var ok = Enumerable.Range(0, n).Select(i => Math.Sin(i) + rating[i]).ToArray();
        var flat = Enumerable.Range(0, n).Select(i => groups[i] == "B" ? 2.0 : Math.Cos(i) + rating[i]).ToArray();
        ok[n - 1] = double.NaN;
        var table = new DataTable("faces")
            .Add("image_id", Enumerable.Range(0, n).Select(i => (string?)$"img{i}").ToArray())
            .Add("group", groups.Select(g => (string?)g).ToArray())
            .Add("beauty", rating).Add("ok", ok).Add("flat", flat);
        var inputs = new AnalysisInputs(new Dictionary<string, DataTable> { ["faces"] = table });
        var options = new RatingCorrelationOptions { Rewards = ["ok", "flat"], Bootstrap = new() { Resamples = 200, Seed = 1 } };

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => new RatingCorrelationAnalysis(options).RunAsync(inputs, NullLogger.Instance, TestContext.Current.CancellationToken));
        Assert.Contains("'ok': 1 (first at data row 21)", error.Message);

        options.Missing = "drop";
        var result = await new RatingCorrelationAnalysis(options).RunAsync(inputs, NullLogger.Instance, TestContext.Current.CancellationToken);
        Assert.Contains(result.Warnings, w => w.Contains("1 of 21 rows were dropped", StringComparison.Ordinal));
        var correlations = Table(result, "rating_correlations");
        Assert.Contains("Only 3 row(s) in group A", Note(correlations, ("reward", "ok"), ("scope", "A")));
        Assert.Contains("'flat' is constant in group B", Note(correlations, ("reward", "flat"), ("scope", "B")));
        Assert.Contains("'beauty' is constant in group D", Note(correlations, ("reward", "ok"), ("scope", "D")));
        Assert.False(double.IsNaN(Expect.Num(correlations, "pearson_r", Expect.Row(correlations, ("reward", "ok"), ("scope", "C")))));
        var differences = Table(result, "rating_group_differences");
        Assert.Contains("Not tested: group A has no correlation", Note(differences, ("reward", "ok"), ("group_a", "A"), ("group_b", "C")));
        Assert.False(double.IsNaN(Expect.Num(differences, "z", Expect.Row(differences, ("reward", "ok"), ("group_a", "B"), ("group_b", "C")))));
        var homogeneity = Table(result, "rating_group_homogeneity");
        Assert.Contains("needs at least 2 groups", Note(homogeneity, ("reward", "flat")));
        Assert.Equal("B C", homogeneity.Text("groups")[Expect.Row(homogeneity, ("reward", "ok"))]);
        var slopes = Table(result, "rating_slopes");
        Assert.Contains("'beauty' is constant in group D", Note(slopes, ("reward", "ok"), ("scope", "D")));
        Assert.Contains("zero variance", Note(slopes, ("reward", "flat"), ("scope", "B")));
        AssertNoSilentNaN(result);
    }

    [Fact]
    public async Task Without_a_group_column_only_pooled_statistics_are_reported()
    {
        var x = Enumerable.Range(0, 30).Select(i => 1 + i % 7 * 0.5).ToArray();
        var table = new DataTable("t")
            .Add("image_id", Enumerable.Range(0, 30).Select(i => (string?)$"{i}.jpg").ToArray())
            .Add("beauty", x).Add("hps", x.Select((v, i) => v + Math.Sin(i)).ToArray());
        var result = await new RatingCorrelationAnalysis(new RatingCorrelationOptions { Bootstrap = new() { Resamples = 0 } })
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["t"] = table }), NullLogger.Instance, TestContext.Current.CancellationToken);
        Assert.Equal(["rating_correlations", "rating_slopes"], result.Tables.Select(t => t.Name).ToArray());
        Assert.Contains(result.Warnings, w => w.Contains("No 'group' column", StringComparison.Ordinal));
        Assert.Contains(result.Findings, f => f.Text.StartsWith("HPS v2: r=", StringComparison.Ordinal)); // recognised reward column
        AssertNoSilentNaN(result);
    }

    private static DataTable Table(AnalysisResult result, string name) => result.Tables.Single(t => t.Name == name);

    private static string Note(DataTable table, params (string Column, string Value)[] keys) => table.Text("note")[Expect.Row(table, keys)] ?? "";

    /// <summary>Every NaN in a result table sits in a row whose note says why.</summary>
    private static void AssertNoSilentNaN(AnalysisResult result)
    {
        foreach (var table in result.Tables)
        {
            var notes = table.Text("note").Values;
            foreach (var column in table.Columns.OfType<NumericColumn>())
                for (var r = 0; r < table.RowCount; r++)
                    if (double.IsNaN(column.Values[r]))
                        Assert.False(string.IsNullOrEmpty(notes[r]), $"{table.Name} row {r + 1}: {column.Name} is NaN without a note.");
        }
    }
}
