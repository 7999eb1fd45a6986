using BiasBench.Host.Configuration;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// configs/finetune-sd15-lora.yaml through the YAML host on the CPU: the same file with its environment variables at the
/// tiny fixture models (sd_tiny, the fixture HPS reward, the fixture ResNet judge) and a few images and updates.
/// Generate before, DRaFT-1 LoRA fine-tune of the prompt-conditioned SD, generate after from the saved SD folder, judge,
/// proportion-shift, score, report.
/// </summary>
public class FineTuneSdExperimentTests
{
    private static readonly string ConfigPath = Path.Combine(Fixtures.RepoRoot, "configs", "finetune-sd15-lora.yaml");

    /// <summary>The shipped config with its sizes shrunk: each replaced line must occur as often as stated.</summary>
    private static string SmokeConfig(string dir)
    {
        var text = File.ReadAllText(ConfigPath);
        (string Pattern, string Replacement, int Count)[] shrink =
        [
            (@"^(\s+seeds:) 0\.\.199$", "$1 0..1", 2),                    // 2 images before and after
            (@"^(\s+steps:) 50$", "$1 4", 2),                             // sd_tiny's fixture schedule length
            (@"^(\s+training_steps:) 200$", "$1 2", 1),
            (@"^(\s+batch_size:) 4$", "$1 2", 1),
            (@"^(\s+warmup_steps:) 10$", "$1 0", 1),
            (@"^(\s+monitor_every_steps:) 25$", "$1 1", 1),
            (@"^(\s+monitor_images:) 32$", "$1 2", 1),
        ];
        foreach (var (pattern, replacement, count) in shrink)
        {
            var regex = new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.Multiline);
            Assert.True(regex.Matches(text).Count == count, $"expected {count} line(s) matching {pattern} in {ConfigPath}");
            text = regex.Replace(text, replacement);
        }
        var path = Path.Combine(dir, "finetune-sd-smoke.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private static Dictionary<string, string> SmokeEnvironment() => new()
    {
        ["SD_MODEL"] = Fixtures.Path_("sd_tiny"),
        ["SD_TOKENIZER_BPE"] = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz"), // sd_tiny has no tokenizer/ folder
        ["HPS_V2_MODEL"] = Fixtures.Path_("open_clip"),
        ["CLIP_BPE"] = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz"),
        ["RESNET_ATTRACTIVENESS_CHECKPOINT"] = Fixtures.File("resnet_attractiveness/model.safetensors"),
    };

    [Fact]
    public async Task The_cpu_smoke_version_runs_before_tune_after_judge_and_analysis()
    {
        var environment = SmokeEnvironment();
        var dir = TestApp.TempDir();
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(SmokeConfig(dir), name => environment.TryGetValue(name, out var v) ? v : Environment.GetEnvironmentVariable(name));
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);

        var before = outputs.Single(o => o.Stage.Id == "before");
        var after = outputs.Single(o => o.Stage.Id == "after");
        Assert.Equal((2, 0), (before.ItemsComputed, before.ItemsFailed));
        Assert.Equal((2, 0), (after.ItemsComputed, after.ItemsFailed));
        // The after images come from the saved SD folder with the merged LoRA: another checksum, other pixels.
        Assert.NotEqual(before.Tables.Single().Text("weights_sha256").Values[0], after.Tables.Single().Text("weights_sha256").Values[0]);
        Assert.NotEqual(File.ReadAllBytes(before.Images[0].Path!), File.ReadAllBytes(after.Images[0].Path!));

        var tune = outputs.Single(o => o.Stage.Id == "tune");
        Assert.Equal(2, tune.Tables.Single(t => t.Name == "training_log").RowCount);
        Assert.Equal([0.0, 1.0, 2.0], tune.Tables.Single(t => t.Name == "monitor").Numeric("step").Values);
        Assert.Equal(4, outputs.Single(o => o.Stage.Id == "judged").Primary!.RowCount);
        var shift = outputs.Single(o => o.Stage.Id == "attractive-share").Primary!;
        Assert.Equal([2.0], shift.Numeric("n_before").Values);
        Assert.Equal(4, outputs.Single(o => o.Stage.Id == "hps").Primary!.RowCount);
        Assert.True(File.Exists(Path.Combine(store.Directory, "report.md")));
    }
}
