using System.Globalization;
using System.Text.Json;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.PromptCondition;
using BiasBench.Plugins.Analyses.Tests.Support;
using BiasBench.Plugins.Datasets;
using BiasBench.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.PromptCondition;

public class PromptConditionEffectTests
{
    /// <summary>The hackathon score tables named in expected_stats.json (every entry with paired_* results).</summary>
    public static TheoryData<string> HackathonTables()
    {
        var data = new TheoryData<string>();
        var root = Fixtures.Root;
        var path = root is null ? null : Path.Combine(root, "stats", "expected_stats.json");
        if (path is null || !File.Exists(path)) { data.Add("<missing expected_stats.json>"); return data; }
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var table in Expect.Objects(doc.RootElement))
            if (Expect.Objects(table.Value).Any(r => r.Value.EnumerateObject().Any(p => p.Name.StartsWith("paired_", StringComparison.Ordinal))))
                data.Add(table.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(HackathonTables))]
    public async Task Matches_scipy_on_the_real_hackathon_scores(string tableName)
    {
        var expected = Fixtures.Json("stats/expected_stats.json").RootElement.GetProperty(tableName);
        var input = await LoadHackathon(Fixtures.Data(Path.Combine("hackathon", tableName)));
        var result = await new PromptConditionEffectAnalysis(new PromptConditionEffectOptions())
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { [tableName] = input }), NullLogger.Instance, TestContext.Current.CancellationToken);

        var means = result.Tables.Single(t => t.Name == "condition_means");
        var paired = result.Tables.Single(t => t.Name == "paired_differences");
        var trend = result.Tables.Single(t => t.Name == "condition_trend");
        Assert.Equal(expected.GetProperty("n").GetInt32(), input.RowCount);
        var levels = ConditionByLevel(input);
        var checkedRewards = 0;
        foreach (var reward in Expect.Objects(expected))
        {
            var e = reward.Value; var name = reward.Name; checkedRewards++;
            foreach (var m in e.GetProperty("means_by_condition").EnumerateObject())
            {
                var r = Expect.Row(means, ("reward", name), ("condition", levels[ParseLevel(m.Name)]));
                Expect.Close(m.Value.GetDouble(), Expect.Num(means, "mean", r), $"{tableName} {name} mean[{m.Name}]");
            }
            foreach (var p in e.EnumerateObject().Where(p => p.Name.StartsWith("paired_", StringComparison.Ordinal)))
            {
                // paired_<b>_vs_<a>: differences b - a.
                var parts = p.Name.Split('_');
                var b = levels[int.Parse(parts[1], CultureInfo.InvariantCulture)];
                var a = levels[int.Parse(parts[3], CultureInfo.InvariantCulture)];
                var r = Expect.Row(paired, ("reward", name), ("condition_a", a), ("condition_b", b));
                var what = $"{tableName} {name} {p.Name}";
                Assert.Equal(p.Value.GetProperty("n_pairs").GetInt32(), (int)Expect.Num(paired, "n_pairs", r));
                Expect.Close(p.Value.GetProperty("mean_diff").GetDouble(), Expect.Num(paired, "mean_diff", r), what + " mean_diff");
                Expect.Close(p.Value.GetProperty("t").GetDouble(), Expect.Num(paired, "t", r), what + " t");
                Expect.Close(p.Value.GetProperty("t_p").GetDouble(), Expect.Num(paired, "t_p", r), what + " t_p", isPValue: true);
                Expect.Close(p.Value.GetProperty("wilcoxon_W").GetDouble(), Expect.Num(paired, "wilcoxon_w", r), what + " W");
                Expect.Close(p.Value.GetProperty("wilcoxon_p").GetDouble(), Expect.Num(paired, "wilcoxon_p", r), what + " wilcoxon_p", isPValue: true);
            }
            var t = Expect.Row(trend, ("reward", name));
            Expect.Close(e.GetProperty("friedman_chi2").GetDouble(), Expect.Num(trend, "friedman_chi2", t), $"{tableName} {name} Friedman");
            Expect.Close(e.GetProperty("friedman_p").GetDouble(), Expect.Num(trend, "friedman_p", t), $"{tableName} {name} Friedman p", isPValue: true);
            Expect.Close(e.GetProperty("pearson").GetDouble(), Expect.Num(trend, "pearson_r_level", t), $"{tableName} {name} Pearson");
            Expect.Close(e.GetProperty("pearson_p").GetDouble(), Expect.Num(trend, "pearson_p_level", t), $"{tableName} {name} Pearson p", isPValue: true);
        }
        Assert.True(checkedRewards > 0, $"expected_stats.json has no reward entries under '{tableName}'.");

        // One finding per reward plus the overall line; a slope figure (PNG + SVG) and the effect-size chart.
        Assert.Equal(checkedRewards + 1, result.Findings.Count(f => !f.Text.StartsWith("Every image", StringComparison.Ordinal)));
        Assert.Contains(result.Figures, f => f.Name.StartsWith("slope-", StringComparison.Ordinal) && f.Png.Length > 1000 && f.Svg!.StartsWith("<svg", StringComparison.Ordinal));
        Assert.Contains(result.Figures, f => f.Name == "effect-sizes");
        Assert.All(result.Figures, f => Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, f.Png[..4]));
    }

    /// <summary>The hackathon score tables named in expected_effects.json (entries with paired_* effect sizes).</summary>
    public static TheoryData<string> EffectTables()
    {
        var data = new TheoryData<string>();
        var root = Fixtures.Root;
        var path = root is null ? null : Path.Combine(root, "stats", "expected_effects.json");
        if (path is null || !File.Exists(path)) { data.Add("<missing expected_effects.json>"); return data; }
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var table in Expect.Objects(doc.RootElement))
            if (Expect.Objects(table.Value).Any(r => r.Value.EnumerateObject().Any(p => p.Name.StartsWith("paired_", StringComparison.Ordinal))))
                data.Add(table.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(EffectTables))]
    public async Task Effect_sizes_and_intervals_match_scipy(string tableName)
    {
        var expected = Fixtures.Json("stats/expected_effects.json").RootElement.GetProperty(tableName);
        var input = await LoadHackathon(Fixtures.Data(Path.Combine("hackathon", tableName)));
        Assert.Equal(expected.GetProperty("n").GetInt32(), input.RowCount);
        var result = await new PromptConditionEffectAnalysis(new PromptConditionEffectOptions())
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { [tableName] = input }), NullLogger.Instance, TestContext.Current.CancellationToken);
        var paired = result.Tables.Single(t => t.Name == "paired_differences");
        var trend = result.Tables.Single(t => t.Name == "condition_trend");
        var levels = ConditionByLevel(input);
        var checks = 0;
        foreach (var reward in Expect.Objects(expected))
        {
            foreach (var p in reward.Value.EnumerateObject().Where(p => p.Name.StartsWith("paired_", StringComparison.Ordinal)))
            {
                var parts = p.Name.Split('_'); // paired_<b>_vs_<a>: differences b - a
                var r = Expect.Row(paired, ("reward", reward.Name), ("condition_a", levels[int.Parse(parts[3], CultureInfo.InvariantCulture)]),
                    ("condition_b", levels[int.Parse(parts[1], CultureInfo.InvariantCulture)]));
                var what = $"{tableName} {reward.Name} {p.Name}";
                Assert.Equal(p.Value.GetProperty("n_pairs").GetInt32(), (int)Expect.Num(paired, "n_pairs", r));
                Expect.Close(p.Value.GetProperty("cohens_dz").GetDouble(), Expect.Num(paired, "cohens_dz", r), what + " d_z");
                var ci = p.Value.GetProperty("mean_diff_ci95_t");
                Expect.Close(ci[0].GetDouble(), Expect.Num(paired, "ci_low", r), what + " t interval low");
                Expect.Close(ci[1].GetDouble(), Expect.Num(paired, "ci_high", r), what + " t interval high");
                checks++;
            }
            Expect.Close(reward.Value.GetProperty("kendalls_w").GetDouble(), Expect.Num(trend, "kendall_w", Expect.Row(trend, ("reward", reward.Name))),
                $"{tableName} {reward.Name} Kendall's W");
        }
        Assert.True(checks > 0, $"expected_effects.json has no paired entries under '{tableName}'.");
    }

    [Fact]
    public async Task Warns_when_prompt_dependent_scores_are_compared_across_prompts()
    {
        var table = Synthetic(prompts: c => $"a photo of an {c} face");
        var result = await Run(table);
        Assert.Contains(result.Warnings, w => w.Contains("only comparable within a prompt", StringComparison.Ordinal) && w.Contains("PickScore", StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_comparability_warning_when_every_image_was_scored_with_one_prompt()
    {
        var result = await Run(Synthetic(prompts: _ => "a portrait photo of a face"));
        Assert.DoesNotContain(result.Warnings, w => w.Contains("only comparable within a prompt", StringComparison.Ordinal));
        Assert.Contains(result.Findings, f => f.Text.Contains("same prompt", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Incomplete_pairs_are_dropped_and_reported_or_refused()
    {
        var table = Synthetic(prompts: _ => "p", dropSeed: 3);
        var result = await Run(table);
        var paired = result.Tables.Single(t => t.Name == "paired_differences");
        Assert.All(paired.Numeric("n_pairs").Values, n => Assert.Equal(19, n));
        Assert.Contains(result.Warnings, w => w.Contains("1 of 20 seed", StringComparison.Ordinal) && w.Contains("dropped", StringComparison.Ordinal));

        var refused = await Assert.ThrowsAsync<InvalidDataException>(() => Run(table, new PromptConditionEffectOptions { IncompletePairs = "error" }));
        Assert.Contains("3", refused.Message);
    }

    [Fact]
    public async Task All_equal_pairs_give_a_note_instead_of_a_silent_NaN()
    {
        var table = Synthetic(prompts: _ => "p", constantReward: true);
        var result = await Run(table);
        var paired = result.Tables.Single(t => t.Name == "paired_differences");
        var r = Expect.Row(paired, ("reward", "aesthetic"));
        Assert.True(double.IsNaN(paired.Numeric("t")[r]));
        Assert.Contains("all pairs are equal", paired.Text("note")[r]!, StringComparison.Ordinal);
        Assert.Contains(result.Findings, f => f.Text.Contains("no paired test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Missing_columns_and_duplicate_rows_are_named()
    {
        var noSeed = new DataTable("t") { Source = "scores.csv" }.Add("condition", new string?[] { "attractive" }).Add("x", new[] { 1.0 });
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Run(noSeed));
        Assert.Contains("pair column 'seed'", e.Message);
        Assert.Contains("scores.csv", e.Message);

        var dup = new DataTable("t")
            .Add("seed", new[] { 1.0, 1.0, 1.0 })
            .Add("condition", new string?[] { "unattractive", "attractive", "attractive" })
            .Add("x", new[] { 1.0, 2.0, 3.0 });
        var d = await Assert.ThrowsAsync<InvalidDataException>(() => Run(dup));
        Assert.Contains("two rows for condition 'attractive'", d.Message);
    }

    private static Task<AnalysisResult> Run(DataTable table, PromptConditionEffectOptions? options = null) =>
        new PromptConditionEffectAnalysis(options ?? new PromptConditionEffectOptions())
            .RunAsync(new AnalysisInputs(new Dictionary<string, DataTable> { ["scores"] = table }), NullLogger.Instance, TestContext.Current.CancellationToken);

    /// <summary>20 seeds x 3 conditions; pick_score rises with attractiveness plus seeded noise.</summary>
    private static DataTable Synthetic(Func<string, string> prompts, int? dropSeed = null, bool constantReward = false)
    {
        var rng = new Random(7);
        string[] conditions = ["unattractive", "normal", "attractive"];
        var seeds = new List<double>(); var cond = new List<string?>(); var prompt = new List<string?>(); var pick = new List<double>(); var aes = new List<double>();
        for (var s = 0; s < 20; s++)
        for (var c = 0; c < 3; c++)
        {
            if (dropSeed == s && c == 2) continue;
            seeds.Add(s); cond.Add(conditions[c]); prompt.Add(prompts(conditions[c]));
            pick.Add(20 + 0.5 * c + rng.NextDouble()); aes.Add(constantReward ? 5 : 5 + rng.NextDouble());
        }
        return new DataTable("synthetic").Add("seed", seeds.ToArray()).Add("condition", cond.ToArray()).Add("prompt", prompt.ToArray())
            .Add("pick_score", pick.ToArray()).Add("aesthetic", aes.ToArray());
    }

    private static async Task<DataTable> LoadHackathon(string path)
    {
        var content = await new HackathonScoresDataset(new HackathonScoresOptions { Path = path }).LoadAsync(TestContext.Current.CancellationToken);
        return content.Table!;
    }

    private static Dictionary<int, string> ConditionByLevel(DataTable t)
    {
        var map = new Dictionary<int, string>();
        for (var r = 0; r < t.RowCount; r++) map[(int)t.Numeric("attractiveness")[r]] = t.Text("condition")[r]!;
        return map;
    }

    private static int ParseLevel(string key) => (int)double.Parse(key, CultureInfo.InvariantCulture);
}
