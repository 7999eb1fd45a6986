using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.AttributeBias;
using BiasBench.Plugins.Analyses.Tests.Support;
using BiasBench.Statistics;
using BiasBench.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.AttributeBias;

public class AttributeBiasTests
{
    private const string ScoresCsv = "stats/celeba_synthetic_scores.csv";

    /// <summary>Sections of expected_stats.json with attribute results (every entry with an OLS on all attributes).</summary>
    public static TheoryData<string> AttributeSections()
    {
        var data = new TheoryData<string>();
        var root = Fixtures.Root;
        var path = root is null ? null : Path.Combine(root, "stats", "expected_stats.json");
        if (path is null || !File.Exists(path)) { data.Add("<missing expected_stats.json>"); return data; }
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var section in Expect.Objects(doc.RootElement))
            if (section.Value.TryGetProperty("ols_all_attributes", out _) && section.Value.TryGetProperty("correlation", out _))
                data.Add(section.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(AttributeSections))]
    public async Task Matches_scipy_and_statsmodels_on_the_fixture(string section)
    {
        var expected = Fixtures.Json("stats/expected_stats.json").RootElement.GetProperty(section);
        var input = Csv.Read(Fixtures.File(ScoresCsv));
        var rewards = expected.GetProperty("rewards").EnumerateArray().Select(e => e.GetString()!).ToList();
        var attributes = expected.GetProperty("attributes").EnumerateArray().Select(e => e.GetString()!).ToList();
        var options = OptionsFor(expected, rewards, attributes, out var target, out var stratifyBy);

        var result = await Run(input, options);
        var corr = Table(result, "attribute_correlations");
        Assert.Equal(expected.GetProperty("n").GetInt32(), input.RowCount);
        Assert.Equal(rewards.Count * attributes.Count, corr.RowCount);

        var checks = 0;
        foreach (var reward in Expect.Objects(expected.GetProperty("correlation")))
        foreach (var attribute in Expect.Objects(reward.Value))
        {
            var r = Expect.Row(corr, ("reward", reward.Name), ("attribute", attribute.Name));
            var e = attribute.Value; var what = $"{section} {reward.Name} x {attribute.Name}";
            Assert.Equal(expected.GetProperty("n").GetInt32(), (int)Expect.Num(corr, "n", r));
            Expect.Close(e.GetProperty("pearson").GetDouble(), Expect.Num(corr, "pearson_r", r), what + " pearson");
            Expect.Close(e.GetProperty("pearson_p").GetDouble(), Expect.Num(corr, "pearson_p", r), what + " pearson_p", isPValue: true);
            Expect.Close(e.GetProperty("pearson_q_bh").GetDouble(), Expect.Num(corr, "pearson_q", r), what + " pearson_q", isPValue: true);
            Expect.Close(e.GetProperty("spearman").GetDouble(), Expect.Num(corr, "spearman_rho", r), what + " spearman");
            Expect.Close(e.GetProperty("spearman_p").GetDouble(), Expect.Num(corr, "spearman_p", r), what + " spearman_p", isPValue: true);
            checks++;
        }
        Assert.True(checks >= rewards.Count * attributes.Count, $"only {checks} correlations checked");

        foreach (var d in expected.EnumerateObject().Where(p => p.Name.StartsWith("cohens_d_", StringComparison.Ordinal)))
        {
            var attribute = AttributeNamed(attributes, d.Name["cohens_d_".Length..]);
            foreach (var reward in d.Value.EnumerateObject())
                Expect.Close(reward.Value.GetDouble(), Expect.Num(corr, "cohens_d", Expect.Row(corr, ("reward", reward.Name), ("attribute", attribute))),
                    $"{section} Cohen's d {reward.Name} by {attribute}");
        }

        var partial = Table(result, "partial_correlations");
        var partialChecks = 0;
        foreach (var reward in Expect.Objects(expected.GetProperty($"partial_{target.ToLowerInvariant()}")))
        foreach (var set in Expect.Objects(reward.Value))
        {
            var r = Expect.Row(partial, ("reward", reward.Name), ("covariate_set", set.Name));
            var what = $"{section} partial {reward.Name} | {set.Name}";
            Expect.Close(set.Value.GetProperty("r").GetDouble(), Expect.Num(partial, "partial_r", r), what + " r");
            Expect.Close(set.Value.GetProperty("p").GetDouble(), Expect.Num(partial, "p", r), what + " p", isPValue: true);
            Assert.Equal(set.Value.GetProperty("dof").GetInt32(), (int)Expect.Num(partial, "df", r));
            partialChecks++;
        }
        Assert.True(partialChecks > 0);

        var coef = Table(result, "ols_coefficients");
        var fit = Table(result, "ols_fit");
        foreach (var reward in Expect.Objects(expected.GetProperty("ols_all_attributes")))
        {
            var e = reward.Value;
            foreach (var (json, column, isP) in new[] { ("params", "estimate", false), ("bse", "se", false), ("bse_hc3", "se_hc3", false), ("pvalues", "p", true) })
            foreach (var term in e.GetProperty(json).EnumerateObject())
            {
                var r = Expect.Row(coef, ("reward", reward.Name), ("term", term.Name));
                Expect.Close(term.Value.GetDouble(), Expect.Num(coef, column, r), $"{section} OLS {reward.Name} {json}[{term.Name}]", isP);
            }
            var f = Expect.Row(fit, ("reward", reward.Name));
            Expect.Close(e.GetProperty("rsquared").GetDouble(), Expect.Num(fit, "r2", f), $"{section} OLS {reward.Name} R2");
            Expect.Close(e.GetProperty("rsquared_adj").GetDouble(), Expect.Num(fit, "adj_r2", f), $"{section} OLS {reward.Name} adj R2");
            Expect.Close(e.GetProperty("df_resid").GetDouble(), Expect.Num(fit, "df_resid", f), $"{section} OLS {reward.Name} df_resid");
            Assert.Equal(e.GetProperty("params").EnumerateObject().Count(), Enumerable.Range(0, coef.RowCount).Count(i => coef.Text("reward")[i] == reward.Name));
        }

        if (stratifyBy is not null)
        {
            var strata = Table(result, "stratified_correlations");
            foreach (var reward in Expect.Objects(expected.GetProperty($"stratified_by_{stratifyBy}")))
            foreach (var level in reward.Value.EnumerateObject())
            {
                var r = Expect.Row(strata, ("reward", reward.Name), ("attribute", target), ("stratum", level.Name));
                Expect.Close(level.Value.GetDouble(), Expect.Num(strata, "pearson_r", r), $"{section} {reward.Name} r with {target} within {stratifyBy}={level.Name}");
            }
        }

        // Figures (PNG + SVG) and a finding per reward naming the target's raw and partial correlation.
        Assert.Equal(["attribute-correlations", "attribute-heatmap", "partial-correlations"], result.Figures.Select(f => f.Name).ToArray());
        Assert.All(result.Figures, f =>
        {
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, f.Png[..4]);
            Assert.StartsWith("<svg", f.Svg!, StringComparison.Ordinal);
        });
        foreach (var reward in rewards)
        {
            var r = Expect.Row(corr, ("reward", reward), ("attribute", target));
            var rText = Common.Format.Num(Expect.Num(corr, "pearson_r", r), 2);
            Assert.Contains(result.Findings, f => f.Text.Contains($"r={rText} with {target}", StringComparison.Ordinal) && f.Text.Contains("partial r=", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Fisher_z_intervals_of_every_correlation_and_partial_correlation_match_the_fixture()
    {
        var expected = Fixtures.Json("stats/expected_effects.json").RootElement.GetProperty("celeba");
        var fisher = expected.GetProperty("fisher_z");
        var rewards = Expect.Objects(fisher).Select(r => r.Name).ToList();
        var attributes = Expect.Objects(fisher.GetProperty(rewards[0])).Select(a => a.Name).ToList();
        var partialKey = expected.EnumerateObject().Single(p => p.Name.StartsWith("partial_", StringComparison.Ordinal) && p.Name.EndsWith("_fisher_z", StringComparison.Ordinal)).Name;
        var target = AttributeNamed(attributes, partialKey["partial_".Length..^"_fisher_z".Length]);
        var sets = Expect.Objects(expected.GetProperty(partialKey).GetProperty(rewards[0]))
            .Select(s => s.Name.StartsWith("all_other_", StringComparison.Ordinal) ? new List<string> { "all" } : s.Name.Split('+').ToList()).ToList();
        var input = Csv.Read(Fixtures.File(ScoresCsv));
        Assert.Equal(expected.GetProperty("n").GetInt32(), input.RowCount);
        var result = await Run(input, new AttributeBiasOptions
        {
            Rewards = rewards, Attributes = attributes, Target = target, CovariateSets = sets, StratifyBy = "none", Bootstrap = { Resamples = 0 },
        });

        var corr = Table(result, "attribute_correlations");
        var checks = 0;
        foreach (var reward in Expect.Objects(fisher))
        foreach (var attribute in Expect.Objects(reward.Value))
        {
            var r = Expect.Row(corr, ("reward", reward.Name), ("attribute", attribute.Name));
            var ci = attribute.Value.GetProperty("fisher_ci95");
            Assert.Equal("fisher_z", corr.Text("ci_method")[r]);
            Expect.Close(attribute.Value.GetProperty("pearson").GetDouble(), Expect.Num(corr, "pearson_r", r), $"{reward.Name} x {attribute.Name} r");
            Expect.Close(ci[0].GetDouble(), Expect.Num(corr, "ci_low", r), $"{reward.Name} x {attribute.Name} Fisher-z low");
            Expect.Close(ci[1].GetDouble(), Expect.Num(corr, "ci_high", r), $"{reward.Name} x {attribute.Name} Fisher-z high");
            checks++;
        }
        Assert.Equal(rewards.Count * attributes.Count, checks);

        var partial = Table(result, "partial_correlations");
        foreach (var reward in Expect.Objects(expected.GetProperty(partialKey)))
        foreach (var set in Expect.Objects(reward.Value))
        {
            var r = Expect.Row(partial, ("reward", reward.Name), ("covariate_set", set.Name));
            var what = $"partial {reward.Name} | {set.Name}";
            Assert.Equal(set.Value.GetProperty("k").GetInt32(), (int)Expect.Num(partial, "k", r));
            Expect.Close(set.Value.GetProperty("r").GetDouble(), Expect.Num(partial, "partial_r", r), what + " r");
            var ci = set.Value.GetProperty("fisher_ci95");
            Expect.Close(ci[0].GetDouble(), Expect.Num(partial, "ci_low", r), what + " Fisher-z low");
            Expect.Close(ci[1].GetDouble(), Expect.Num(partial, "ci_high", r), what + " Fisher-z high");
        }
    }

    [Fact]
    public async Task Two_tables_joined_by_id_give_the_same_numbers_and_report_unmatched_rows()
    {
        var full = Synthetic(400, seed: 3);
        var ids = full.Text("image_id").Values;
        // Scores keep '.jpg' and three extra images; attributes are in another order with bare ids and one extra row.
        var scoreRows = Enumerable.Range(0, full.RowCount).ToList();
        var scores = new DataTable("scores") { Source = "scores.csv" }
            .Add("image_id", scoreRows.Select(i => ids[i]).Concat(["x1.jpg", "x2.jpg", "x3.jpg"]).ToArray())
            .Add("hps", scoreRows.Select(i => full.Numeric("hps")[i]).Concat([0.1, 0.2, 0.3]).ToArray())
            .Add("pick_score", scoreRows.Select(i => full.Numeric("pick_score")[i]).Concat([1.0, 2.0, 3.0]).ToArray());
        var order = Enumerable.Range(0, full.RowCount).Reverse().ToList();
        var attrs = new DataTable("attributes") { Source = "list_attr_celeba.csv" }
            .Add("image_id", order.Select(i => Path.GetFileNameWithoutExtension(ids[i])).Concat(["y9"]).ToArray());
        foreach (var a in SyntheticAttributes)
            attrs.Add(a, order.Select(i => full.Numeric(a)[i]).Concat([0.0]).ToArray());

        var joined = await Run(new Dictionary<string, DataTable> { ["scores"] = scores, ["attributes"] = attrs }, new AttributeBiasOptions { Bootstrap = { Resamples = 0 } });
        var single = await Run(full, new AttributeBiasOptions { Bootstrap = { Resamples = 0 } });
        var a1 = Table(joined, "attribute_correlations"); var a2 = Table(single, "attribute_correlations");
        Assert.Equal(a2.RowCount, a1.RowCount);
        for (var r = 0; r < a2.RowCount; r++)
        {
            var r1 = Expect.Row(a1, ("reward", a2.Text("reward")[r]!), ("attribute", a2.Text("attribute")[r]!));
            Expect.Close(a2.Numeric("pearson_r")[r], a1.Numeric("pearson_r")[r1], "joined pearson");
            Assert.Equal(400, a1.Numeric("n")[r1]);
        }
        Assert.Contains(joined.Warnings, w => w.Contains("3 of 403 rows of 'scores'", StringComparison.Ordinal));
        Assert.Contains(joined.Warnings, w => w.Contains("1 of 401 rows of 'attributes'", StringComparison.Ordinal));

        // A duplicate id makes the join ambiguous: the error names both tables.
        var dupIds = attrs.Text("image_id").Values.ToArray(); dupIds[5] = dupIds[6];
        var dup = new DataTable("attributes") { Source = "list_attr_celeba.csv" }.Add("image_id", dupIds);
        foreach (var a in SyntheticAttributes) dup.Add(attrs[a]);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Run(new Dictionary<string, DataTable> { ["scores"] = scores, ["attributes"] = dup }, new AttributeBiasOptions()));
        Assert.Contains("'scores'", e.Message);
        Assert.Contains("'attributes'", e.Message);
        Assert.Contains($"'{dupIds[5]}'", e.Message);
        Assert.Contains("appears twice", e.Message);
    }

    [Fact]
    public async Task A_constant_attribute_gets_a_note_not_a_silent_NaN()
    {
        var table = Synthetic(300, seed: 5);
        table.Add("Bald", new double[300]);
        var result = await Run(table, new AttributeBiasOptions { Bootstrap = { Resamples = 0 } });
        var corr = Table(result, "attribute_correlations");
        var r = Expect.Row(corr, ("reward", "hps"), ("attribute", "Bald"));
        Assert.True(double.IsNaN(Expect.Num(corr, "pearson_r", r)));
        Assert.True(double.IsNaN(Expect.Num(corr, "cohens_d", r)));
        Assert.Contains("'Bald' is constant", corr.Text("note")[r]!, StringComparison.Ordinal);
        Assert.Contains(result.Warnings, w => w.Contains("Constant attribute(s) Bald", StringComparison.Ordinal));
        // The other attributes still get q-values (BH over the defined tests) and the OLS still fits without Bald.
        Assert.All(Enumerable.Range(0, corr.RowCount).Where(i => corr.Text("attribute")[i] != "Bald"), i => Assert.False(double.IsNaN(corr.Numeric("pearson_q")[i])));
        var coef = Table(result, "ols_coefficients");
        Assert.DoesNotContain("Bald", coef.Text("term").Values);
        Assert.Contains("Smiling", coef.Text("term").Values);
        var partial = Table(result, "partial_correlations");
        var all = Expect.Row(partial, ("reward", "hps"), ("covariate_set", "all_other_4"));
        Assert.Contains("left out of 'all': Bald", partial.Text("note")[all]!, StringComparison.Ordinal);
        Assert.False(double.IsNaN(Expect.Num(partial, "partial_r", all)));
    }

    [Theory]
    [InlineData(BootstrapMethod.Bca)]
    [InlineData(BootstrapMethod.Percentile)]
    public async Task Bootstrap_intervals_of_the_target_are_the_statistics_library_intervals(BootstrapMethod method)
    {
        var table = Synthetic(1500, seed: 21);
        var result = await Run(table, new AttributeBiasOptions
        {
            CovariateSets = [["Smiling"], ["all"]],
            Bootstrap = { Resamples = 300, Seed = 4, Method = method },
        });
        var label = $"bootstrap_{method.ToString().ToLowerInvariant()}";
        var target = table.Numeric("Attractive").Values.ToArray();
        var others = SyntheticAttributes.Where(a => a != "Attractive").Select(a => table.Numeric(a).Values.ToArray()).ToArray();
        var partial = Table(result, "partial_correlations");
        var corr = Table(result, "attribute_correlations");
        foreach (var reward in new[] { "hps", "pick_score" })
        {
            var y = table.Numeric(reward).Values.ToArray();
            var r = Expect.Row(partial, ("reward", reward), ("covariate_set", "all_other_4"));
            Assert.Equal(label, partial.Text("ci_method")[r]);
            var expected = Bootstrap.PartialCorrelationCi(target, y, others, method, 300, 0.95, 4);
            Assert.Equal(expected.Lower, Expect.Num(partial, "ci_low", r), 1e-9);
            Assert.Equal(expected.Upper, Expect.Num(partial, "ci_high", r), 1e-9);
            Assert.InRange(Expect.Num(partial, "partial_r", r), expected.Lower, expected.Upper);

            var c = Expect.Row(corr, ("reward", reward), ("attribute", "Attractive"));
            var raw = Bootstrap.CorrelationCi(target, y, CorrelationMethod.Pearson, method, 300, 0.95, 4);
            Assert.Equal(raw.Lower, Expect.Num(corr, "ci_low", c), 1e-9);
            Assert.Equal(raw.Upper, Expect.Num(corr, "ci_high", c), 1e-9);
        }
    }

    [Fact]
    public async Task Perfectly_collinear_covariates_give_a_clear_message()
    {
        var table = Synthetic(300, seed: 9);
        table.Add("Smiling_copy", table.Numeric("Smiling").Values.ToArray());
        var result = await Run(table, new AttributeBiasOptions
        {
            CovariateSets = [["Smiling", "Smiling_copy"], ["Male"]],
            Bootstrap = { Resamples = 0 },
        });
        var partial = Table(result, "partial_correlations");
        var r = Expect.Row(partial, ("reward", "hps"), ("covariate_set", "Smiling+Smiling_copy"));
        Assert.True(double.IsNaN(Expect.Num(partial, "partial_r", r)));
        var note = partial.Text("note")[r]!;
        Assert.Contains("collinear", note, StringComparison.Ordinal);
        Assert.Contains("Smiling_copy", note, StringComparison.Ordinal);
        Assert.False(double.IsNaN(Expect.Num(partial, "partial_r", Expect.Row(partial, ("reward", "hps"), ("covariate_set", "Male")))));
        Assert.Contains(result.Warnings, w => w.Contains("controlling for Smiling+Smiling_copy are undefined", StringComparison.Ordinal));
        // The OLS on all attributes hits the same collinearity and says which columns to drop.
        var fit = Table(result, "ols_fit");
        Assert.Contains("Smiling_copy", fit.Text("note")[0]!, StringComparison.Ordinal);
        Assert.Contains("collinear", fit.Text("note")[0]!, StringComparison.Ordinal);
        Assert.Equal(0, Table(result, "ols_coefficients").RowCount);
    }

    [Fact]
    public async Task A_target_explained_by_its_covariates_is_named()
    {
        var table = Synthetic(300, seed: 11);
        var smiling = table.Numeric("Smiling").Values; var male = table.Numeric("Male").Values;
        // Attractive_sum = Smiling + Male: a linear function of the covariate set (not collinear among themselves).
        table.Add("Score_sum", smiling.Zip(male, (a, b) => a + b).ToArray());
        var result = await Run(table, new AttributeBiasOptions
        {
            Target = "Score_sum", CovariateSets = [["Smiling", "Male"]], StratifyBy = "none", Bootstrap = { Resamples = 0 },
            Attributes = ["Score_sum", "Smiling", "Male"],
        });
        var partial = Table(result, "partial_correlations");
        var r = Expect.Row(partial, ("reward", "hps"), ("covariate_set", "Smiling+Male"));
        Assert.Contains("'Score_sum' is a linear function of the covariates", partial.Text("note")[r]!, StringComparison.Ordinal);
        Assert.DoesNotContain(result.Tables, t => t.Name == "stratified_correlations");
    }

    [Fact]
    public async Task Missing_values_are_refused_or_dropped_and_counted()
    {
        var table = Synthetic(200, seed: 13);
        table.Numeric("hps").Values[7] = double.NaN;
        table.Numeric("Smiling").Values[20] = double.NaN;
        table.Numeric("Smiling").Values[21] = double.NaN;
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Run(table, new AttributeBiasOptions()));
        Assert.Contains("'hps': 1 (first at data row 8)", e.Message);
        Assert.Contains("'Smiling': 2 (first at data row 21)", e.Message);
        Assert.Contains("missing: drop", e.Message);

        var result = await Run(table, new AttributeBiasOptions { Missing = "drop", Bootstrap = { Resamples = 0 } });
        Assert.Contains(result.Warnings, w => w.StartsWith("3 of 200 rows were dropped", StringComparison.Ordinal));
        Assert.All(Table(result, "attribute_correlations").Numeric("n").Values, n => Assert.Equal(197, n));
        Assert.All(Table(result, "ols_fit").Numeric("n").Values, n => Assert.Equal(197, n));
    }

    [Fact]
    public async Task Unknown_reward_columns_must_be_listed()
    {
        var table = new DataTable("t").Add("image_id", new string?[] { "a", "b", "c", "d", "e" })
            .Add("my_score", new[] { 1.0, 2, 3, 4, 5 }).Add("Attractive", new[] { 0.0, 1, 0, 1, 1 });
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Run(table, new AttributeBiasOptions()));
        Assert.Contains("`rewards`", e.Message);
        Assert.Contains("my_score", e.Message);
    }

    [Fact]
    public async Task Minus_one_plus_one_attributes_are_recoded_and_give_the_same_correlations()
    {
        var table = Synthetic(300, seed: 17);
        var signed = new DataTable("signed").Add(table["image_id"]).Add(table["hps"]).Add(table["pick_score"]);
        foreach (var a in SyntheticAttributes) signed.Add(a, table.Numeric(a).Values.Select(v => 2 * v - 1).ToArray());
        var o = new AttributeBiasOptions { Bootstrap = { Resamples = 0 } };
        var plain = await Run(table, o);
        var recoded = await Run(signed, o);
        Assert.Contains(recoded.Warnings, w => w.Contains("recoded to 0/1", StringComparison.Ordinal));
        var c1 = Table(plain, "ols_coefficients"); var c2 = Table(recoded, "ols_coefficients");
        for (var r = 0; r < c1.RowCount; r++) Expect.Close(c1.Numeric("estimate")[r], c2.Numeric("estimate")[r], $"OLS {c1.Text("term")[r]}");
        var d1 = Table(plain, "attribute_correlations"); var d2 = Table(recoded, "attribute_correlations");
        for (var r = 0; r < d1.RowCount; r++) Expect.Close(d1.Numeric("cohens_d")[r], d2.Numeric("cohens_d")[r], "Cohen's d");
    }

    [Fact]
    public async Task Too_few_bootstrap_resamples_are_refused_up_front()
    {
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Run(Synthetic(50, seed: 1), new AttributeBiasOptions { Bootstrap = { Resamples = 20 } }));
        Assert.Contains("bootstrap.resamples is 20", e.Message);
    }

    [Fact]
    public async Task Bootstrap_intervals_are_seeded_and_cover_the_estimate()
    {
        var table = Synthetic(500, seed: 19);
        AttributeBiasOptions Options(int seed, BootstrapMethod method) => new()
        {
            CovariateSets = [["Smiling"], ["all"]], Bootstrap = { Resamples = 300, Seed = seed, Method = method },
        };
        var a = await Run(table, Options(1, BootstrapMethod.Bca));
        var b = await Run(table, Options(1, BootstrapMethod.Bca));
        var c = await Run(table, Options(2, BootstrapMethod.Percentile));
        foreach (var (name, estimate) in new[] { ("attribute_correlations", "pearson_r"), ("partial_correlations", "partial_r") })
        {
            var ta = Table(a, name); var tb = Table(b, name); var tc = Table(c, name);
            var rows = Enumerable.Range(0, ta.RowCount).Where(i => ta.Text("ci_method")[i] == "bootstrap_bca").ToList();
            Assert.NotEmpty(rows);
            if (name == "attribute_correlations")
                Assert.All(rows, i => Assert.Equal("Attractive", ta.Text("attribute")[i]));
            foreach (var i in rows)
            {
                Assert.Equal(ta.Numeric("ci_low")[i], tb.Numeric("ci_low")[i]);
                Assert.Equal(ta.Numeric("ci_high")[i], tb.Numeric("ci_high")[i]);
                Assert.Equal("bootstrap_percentile", tc.Text("ci_method")[i]);
                Assert.NotEqual(ta.Numeric("ci_low")[i], tc.Numeric("ci_low")[i]);
                var est = ta.Numeric(estimate)[i];
                Assert.InRange(est, ta.Numeric("ci_low")[i], ta.Numeric("ci_high")[i]);
                // The width is of the order of the textbook large-sample one, 2 z (1 - r^2) / sqrt(n) (an independent yardstick).
                var approximate = 2 * 1.959964 * (1 - est * est) / Math.Sqrt(500);
                Assert.InRange(ta.Numeric("ci_high")[i] - ta.Numeric("ci_low")[i], 0.5 * approximate, 2 * approximate);
            }
        }
        // Other attributes keep Fisher-z intervals.
        var corr = Table(a, "attribute_correlations");
        Assert.Equal("fisher_z", corr.Text("ci_method")[Expect.Row(corr, ("reward", "hps"), ("attribute", "Smiling"))]);
    }

    [Fact]
    public async Task Full_celeba_size_table_is_analysed_end_to_end()
    {
        // 202,599 rows x 40 attributes x 3 rewards (the fixture tiled to CelebA's size); bootstrap off.
        var source = Csv.Read(Fixtures.File(ScoresCsv));
        var section = Expect.Objects(Fixtures.Json("stats/expected_stats.json").RootElement).First(s => s.Value.TryGetProperty("rewards", out _)).Value;
        var rewards = section.GetProperty("rewards").EnumerateArray().Select(e => e.GetString()!).ToList();
        const int n = 202_599; // full CelebA
        var big = new DataTable("celeba_full");
        foreach (var column in source.Columns.Where(c => c.IsNumeric))
        {
            var v = ((NumericColumn)column).Values; var tiled = new double[n];
            var jitter = new Random(column.Name.Length);
            for (var i = 0; i < n; i++) tiled[i] = v[i % v.Length] + (rewards.Contains(column.Name) ? 1e-3 * jitter.NextDouble() : 0);
            big.Add(column.Name, tiled);
        }
        var options = new AttributeBiasOptions { Rewards = rewards, Bootstrap = { Resamples = 0 } };
        var inputs = new AnalysisInputs(new Dictionary<string, DataTable> { ["scores"] = big });
        // Speed is measured by the BenchmarkDotNet benchmark (benchmarks/), not here; this checks the full-size path works.
        var log = new CapturingLogger();
        var result = await new AttributeBiasAnalysis(options).RunAsync(inputs, log, TestContext.Current.CancellationToken);
        Assert.Equal(n, (int)Table(result, "ols_fit").Numeric("n")[0]);
        foreach (var line in log.Lines) TestContext.Current.TestOutputHelper?.WriteLine(line);
        Assert.Equal(rewards.Count * (source.Columns.Count(c => c.IsNumeric) - rewards.Count), Table(result, "attribute_correlations").RowCount);
    }

    // ---- helpers ----

    private sealed class CapturingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add(formatter(state, exception));
        }
    }

    private static AttributeBiasOptions OptionsFor(JsonElement expected, List<string> rewards, List<string> attributes, out string target, out string? stratifyBy)
    {
        var partialKey = expected.EnumerateObject().First(p => p.Name.StartsWith("partial_", StringComparison.Ordinal)).Name;
        target = AttributeNamed(attributes, partialKey["partial_".Length..]);
        var sets = Expect.Objects(expected.GetProperty(partialKey)).First().Value.EnumerateObject()
            .Select(s => s.Name.StartsWith("all_other_", StringComparison.Ordinal) ? new List<string> { "all" } : s.Name.Split('+').ToList())
            .ToList();
        var strat = expected.EnumerateObject().FirstOrDefault(p => p.Name.StartsWith("stratified_by_", StringComparison.Ordinal));
        stratifyBy = strat.Value.ValueKind == JsonValueKind.Object ? strat.Name["stratified_by_".Length..] : null;
        return new AttributeBiasOptions
        {
            Rewards = rewards, Attributes = attributes, Target = target, CovariateSets = sets,
            StratifyBy = stratifyBy ?? "none", Bootstrap = { Resamples = 0 },
        };
    }

    private static string AttributeNamed(List<string> attributes, string key) =>
        attributes.Single(a => string.Equals(a, key, StringComparison.OrdinalIgnoreCase));

    private static DataTable Table(AnalysisResult result, string name) => result.Tables.Single(t => t.Name == name);

    private static Task<AnalysisResult> Run(DataTable table, AttributeBiasOptions options) =>
        Run(new Dictionary<string, DataTable> { ["scores"] = table }, options);

    private static Task<AnalysisResult> Run(Dictionary<string, DataTable> tables, AttributeBiasOptions options) =>
        new AttributeBiasAnalysis(options).RunAsync(new AnalysisInputs(tables), NullLogger.Instance, TestContext.Current.CancellationToken);

    private static readonly string[] SyntheticAttributes = ["Attractive", "Smiling", "Male", "Young", "Heavy_Makeup"];

    /// <summary>Seeded CelebA-like rows: five 0/1 attributes; hps and pick_score rise with Attractive and Smiling.</summary>
    private static DataTable Synthetic(int n, int seed)
    {
        var rng = new Random(seed);
        var attrs = SyntheticAttributes.ToDictionary(a => a, _ => new double[n]);
        var hps = new double[n]; var pick = new double[n];
        for (var i = 0; i < n; i++)
        {
            foreach (var a in SyntheticAttributes) attrs[a][i] = rng.NextDouble() < 0.45 ? 1 : 0;
            hps[i] = 0.25 + 0.02 * attrs["Attractive"][i] + 0.01 * attrs["Smiling"][i] + 0.02 * rng.NextDouble();
            pick[i] = 20 + 0.4 * attrs["Attractive"][i] - 0.2 * attrs["Male"][i] + rng.NextDouble();
        }
        var table = new DataTable("synthetic").Add("image_id", Enumerable.Range(1, n).Select(i => (string?)$"{i:000000}.jpg").ToArray())
            .Add("hps", hps).Add("pick_score", pick);
        foreach (var a in SyntheticAttributes) table.Add(a, attrs[a]);
        return table;
    }

    /// <summary>Minimal CSV reader for the fixture (no quoted fields there): numeric columns where every cell parses.</summary>
    private static class Csv
    {
        public static DataTable Read(string path)
        {
            var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
            var header = lines[0].Split(',');
            var cells = lines.Skip(1).Select((l, i) =>
            {
                var parts = l.Split(',');
                Assert.True(parts.Length == header.Length, $"{path}:{i + 2}: {parts.Length} fields, header has {header.Length}.");
                return parts;
            }).ToArray();
            var table = new DataTable(Path.GetFileNameWithoutExtension(path)) { Source = path };
            for (var c = 0; c < header.Length; c++)
            {
                var values = new double[cells.Length];
                var numeric = true;
                for (var r = 0; r < cells.Length && numeric; r++)
                    numeric = cells[r][c].Length == 0
                        ? (values[r] = double.NaN) is double.NaN
                        : double.TryParse(cells[r][c], NumberStyles.Float, CultureInfo.InvariantCulture, out values[r]);
                if (numeric) table.Add(header[c], values);
                else table.Add(header[c], cells.Select(row => row[c].Length == 0 ? null : row[c]).ToArray());
            }
            return table;
        }
    }
}
