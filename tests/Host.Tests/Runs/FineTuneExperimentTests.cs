using BiasBench.Host.Configuration;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// configs/finetune-ddpm-attractiveness.yaml through the YAML host on the CPU: the CPU smoke version is the same file
/// with its environment variables pointing at the tiny fixture models (draft_step's UNet, the fixture HPS/PickScore/
/// ImageReward/aesthetic rewards, the fixture ResNet judge) and a few faces and updates. Generate before, DRaFT-1
/// fine-tune with the monitor, generate after from the fine-tuned checkpoint, judge, proportion-shift, score with every
/// reward, paired reward shifts, report. Without the weights the run stops before any work, naming them.
/// </summary>
public class FineTuneExperimentTests
{
    private static readonly string ConfigPath = Path.Combine(Fixtures.RepoRoot, "configs", "finetune-ddpm-attractiveness.yaml");

    /// <summary>The shipped config with its sizes shrunk: each replaced line must occur as often as stated, so a change of
    /// the config's shape fails here instead of silently running something else.</summary>
    private static string SmokeConfig(string dir)
    {
        var text = File.ReadAllText(ConfigPath);
        (string Pattern, string Replacement, int Count)[] shrink =
        [
            (@"^(\s+seeds:) 0\.\.999$", "$1 0..3", 2),                    // 4 faces before and after
            (@"^(\s+steps:) 50$", "$1 4", 2),                             // 4 sampling steps (the draft_step fixture's)
            (@"^(\s+training_steps:) 200$", "$1 2", 1),
            (@"^(\s+batch_size:) 4(\s+#.*)?$", "$1 2", 1),
            (@"^(\s+warmup_steps:) 10$", "$1 0", 1),
            (@"^(\s+monitor_every_steps:) 25$", "$1 1", 1),
            (@"^(\s+monitor_images:) 64$", "$1 4", 1),
        ];
        foreach (var (pattern, replacement, count) in shrink)
        {
            var regex = new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.Multiline);
            Assert.True(regex.Matches(text).Count == count, $"expected {count} line(s) matching {pattern} in {ConfigPath}");
            text = regex.Replace(text, replacement);
        }
        var path = Path.Combine(dir, "finetune-smoke.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private static Dictionary<string, string> SmokeEnvironment() => new()
    {
        ["DDPM_MODEL"] = Fixtures.Path_("draft_step"),
        ["HPS_V2_MODEL"] = Fixtures.Path_("open_clip"),
        ["CLIP_BPE"] = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz"),
        ["PICKSCORE_MODEL"] = Fixtures.Path_("clip_hf"),
        ["IMAGE_REWARD_MODEL"] = Fixtures.Path_("image_reward"),
        ["BERT_VOCAB"] = Fixtures.Data("tokenizers/bert-base-uncased-vocab.txt"),
        ["AESTHETIC_CLIP_MODEL"] = Fixtures.Path_("clip_quickgelu"),
        ["AESTHETIC_HEAD"] = Fixtures.File("clip_quickgelu/aesthetic_head.pth"),
        ["RESNET_ATTRACTIVENESS_CHECKPOINT"] = Fixtures.File("resnet_attractiveness/model.safetensors"),
    };

    [Fact]
    public async Task The_cpu_smoke_version_runs_before_tune_after_judge_and_every_analysis()
    {
        var environment = SmokeEnvironment();
        var dir = TestApp.TempDir();
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(SmokeConfig(dir), name => environment.TryGetValue(name, out var v) ? v : Environment.GetEnvironmentVariable(name));
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);

        var before = outputs.Single(o => o.Stage.Id == "before");
        var after = outputs.Single(o => o.Stage.Id == "after");
        Assert.Equal((4, 0), (before.ItemsComputed, before.ItemsFailed));
        Assert.Equal((4, 0), (after.ItemsComputed, after.ItemsFailed));
        // The after images come from the fine-tuned weights: another checksum, and different pixels for the same seed.
        var beforeSha = before.Tables.Single().Text("weights_sha256").Values[0];
        var afterSha = after.Tables.Single().Text("weights_sha256").Values[0];
        Assert.NotEqual(beforeSha, afterSha);
        Assert.NotEqual(File.ReadAllBytes(before.Images[0].Path!), File.ReadAllBytes(after.Images[0].Path!));

        var tune = outputs.Single(o => o.Stage.Id == "tune");
        var log = tune.Tables.Single(t => t.Name == "training_log");
        Assert.Equal(2, log.RowCount);
        var monitor = tune.Tables.Single(t => t.Name == "monitor");
        Assert.Equal([0.0, 1.0, 2.0], monitor.Numeric("step").Values);
        Assert.All(monitor.Numeric("judge.resnet-attractiveness.attractive_share").Values, v => Assert.InRange(v, 0, 1));
        foreach (var reward in new[] { "hps-v2.1", "pickscore", "image-reward", "laion-aesthetic-v2" })
            Assert.All(monitor.Numeric("monitor." + reward).Values, v => Assert.True(double.IsFinite(v), reward));
        Assert.Contains(tune.Figures, f => f.Name == "reward-vs-judged");
        Assert.Contains(tune.Figures, f => f.Name.StartsWith("samples-step-", StringComparison.Ordinal));

        var judged = outputs.Single(o => o.Stage.Id == "judged").Primary!;
        Assert.Equal(8, judged.RowCount);
        var shift = outputs.Single(o => o.Stage.Id == "attractive-share").Primary!;
        Assert.Equal([4.0], shift.Numeric("n_before").Values);
        Assert.Equal([4.0], shift.Numeric("n_after").Values);
        foreach (var id in new[] { "hps", "pickscore", "image-reward", "aesthetic" })
            Assert.Equal(8, outputs.Single(o => o.Stage.Id == id).Primary!.RowCount);
        Assert.NotEmpty(outputs.Single(o => o.Stage.Id == "reward-shifts").Tables);
        Assert.True(File.Exists(Path.Combine(store.Directory, "report.md")));

        // A re-run finds the finished fine-tune in its work folder: nothing is trained or generated again.
        var (_, again) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Equal(2, again.Single(o => o.Stage.Id == "tune").Tables.Single(t => t.Name == "training_log").RowCount);
        Assert.Equal((0, 4), (again.Single(o => o.Stage.Id == "after").ItemsComputed, again.Single(o => o.Stage.Id == "after").ItemsFromCache));
    }

    [Fact]
    public async Task Without_the_weights_the_run_stops_before_any_work_naming_what_is_missing()
    {
        var dir = TestApp.TempDir();
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var missing = Path.Combine(dir, "missing");
        var environment = SmokeEnvironment();
        foreach (var key in new[] { "DDPM_MODEL", "HPS_V2_MODEL" }) environment[key] = Path.Combine(missing, key.ToLowerInvariant());
        var config = ExperimentConfigLoader.Load(ConfigPath, name => environment.TryGetValue(name, out var v) ? v : Environment.GetEnvironmentVariable(name));
        var e = Assert.Throws<ConfigException>(() => app.Plan(config));
        Assert.Contains(e.Problems, p => p.ToString().Contains("stage 'tune'") && p.ToString().Contains("generator") && p.ToString().Contains("ddpm_model"));
        Assert.Contains(e.Problems, p => p.ToString().Contains("stage 'tune'") && p.ToString().Contains("reward") && p.ToString().Contains("hps_v2_model"));
        Assert.Contains(e.Problems, p => p.ToString().Contains("stage 'before'") && p.ToString().Contains("ddpm_model"));
        Assert.Empty(Directory.Exists(Path.Combine(dir, "runs")) ? Directory.GetDirectories(Path.Combine(dir, "runs")) : []);
    }
}
