using System.Text;
using System.Text.Json.Nodes;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// Components that use components at run time: references resolved through the context, instances shared where plugin
/// and options match and disposed by the host after their last stage, the fine-tune checkpoint feeding a later generate
/// stage, and the fine-tuner's work folder that survives re-runs.
/// </summary>
public class ComponentReferenceRunTests
{
    private static (string Dir, string Tag) Setup()
    {
        var dir = TestApp.TempDir();
        File.WriteAllText(Path.Combine(dir, "base.bin"), "base weights");
        return (dir, Guid.NewGuid().ToString("N"));
    }

    private static string Write(string dir, string yaml)
    {
        var path = Path.Combine(dir, "exp.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task Equal_options_share_one_instance_different_ones_do_not_and_the_host_disposes_each_after_its_last_stage()
    {
        var (dir, tag) = Setup();
        var file = Write(dir, $$"""
            experiment: sharing
            stages:
              - id: before
                kind: generate
                plugin: path-generator
                prompts: { before: a face }
                seeds: 0..2
                options: { model: base.bin, tag: {{tag}} }
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  tag: {{tag}}
                  reward: { plugin: counting-reward, options: { scale: 2, tag: {{tag}} } }
                  rewards:
                    - { plugin: counting-reward, weight: 0.5, options: { scale: 2, tag: {{tag}} } }
                    - { plugin: counting-reward, weight: 2, options: { scale: 3, tag: {{tag}} } }
                  generator: { plugin: path-generator, options: { model: base.bin, tag: {{tag}} } }
              - id: scores
                kind: score
                plugin: counting-reward
                inputs: [before]
                options: { scale: 2, tag: {{tag}} }
              - kind: report
            """);
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(file);
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var events = ReferenceEvents.Of(tag);

        // One instance for the fine-tuner's reward, its first weighted reward and the later score stage (equal options);
        // another for the reward with other options.
        var created = events.Where(e => e.StartsWith("created reward#", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, created.Count);
        var shared = created.Single(e => e.EndsWith("scale=2", StringComparison.Ordinal)).Split(' ')[1];
        var other = created.Single(e => e.EndsWith("scale=3", StringComparison.Ordinal)).Split(' ')[1];
        Assert.Contains($"tuner resolved reward={shared} rewards=[{shared},{other}] weights=[0.5,2] judges=0 generator=yes", events);
        var scores = outputs.Single(o => o.Stage.Id == "scores");
        Assert.Equal((3, 0), (scores.ItemsComputed, scores.ItemsFailed)); // a disposed instance would have thrown

        // Disposed by the host, once each: the one only the fine-tuner used right after its stage, the shared one after
        // the score stage, its last user.
        int Index(string e) => events.ToList().IndexOf(e);
        Assert.Single(events, $"disposed {shared}");
        Assert.Single(events, $"disposed {other}");
        var tunerRun = events.Select((e, i) => (e, i)).Single(x => x.e.StartsWith("tuner run", StringComparison.Ordinal)).i;
        var lastScore = events.Select((e, i) => (e, i)).Last(x => x.e == $"scored by {shared}").i;
        Assert.InRange(Index($"disposed {other}"), tunerRun + 1, lastScore - 1);
        Assert.True(Index($"disposed {shared}") > lastScore);

        // The fine-tuner's generator is [ExclusiveInstance]: its own instance, beside the 'before' stage's equal one.
        Assert.Equal(2, events.Count(e => e.StartsWith("generator model=", StringComparison.Ordinal)));
        Assert.Equal(2, events.Count(e => e.StartsWith("disposed generator", StringComparison.Ordinal)));
        Assert.True(events.ToList().FindLastIndex(e => e.StartsWith("disposed generator", StringComparison.Ordinal)) < lastScore);

        // The manifest lists the referenced components after the stages' own, with who references them.
        var components = JsonNode.Parse(File.ReadAllText(store.ManifestFile))!["components"]!.AsArray();
        var nested = components.Where(c => c!["referenced_by"] is not null).ToList();
        Assert.Equal(["recording-tuner: reward", "recording-tuner: rewards[0]", "recording-tuner: rewards[1]", "recording-tuner: generator"],
            nested.Select(c => c!["referenced_by"]!.GetValue<string>()));
        Assert.Equal(2.0, nested[2]!["weight"]!.GetValue<double>());
        Assert.Equal(3.0, nested[2]!["options"]!["Scale"]!.GetValue<double>());
        Assert.True(nested[3]!["exclusive_instance"]!.GetValue<bool>());
        Assert.Contains("reusing reward model 'counting-reward'", File.ReadAllText(store.LogFile));
    }

    [Fact]
    public async Task A_failing_fine_tune_still_disposes_what_it_resolved_and_a_wrong_contract_is_named()
    {
        var (dir, tag) = Setup();
        var failing = Write(dir, $$"""
            experiment: failing
            stages:
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  tag: {{tag}}
                  fail: true
                  reward: { plugin: counting-reward, options: { tag: {{tag}} } }
            """);
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(failing);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.RunAsync(config, app.Plan(config), false, CancellationToken.None));
        Assert.Equal("training diverged", error.Message);
        var events = ReferenceEvents.Of(tag);
        var id = events.Single(e => e.StartsWith("created reward#", StringComparison.Ordinal)).Split(' ')[1];
        Assert.Single(events, $"disposed {id}");

        var wrong = Write(dir, $$"""
            experiment: wrong-contract
            stages:
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  tag: {{tag}}
                  special: { plugin: counting-reward, options: { tag: {{tag}} } }
            """);
        config = ExperimentConfigLoader.Load(wrong);
        var failed = await Assert.ThrowsAsync<StageFailedException>(() => app.RunAsync(config, app.Plan(config), false, CancellationToken.None));
        Assert.Contains("fine-tuner 'recording-tuner' failed to start: reward model 'counting-reward' (special) is a CountingReward, which does not implement ISpecialReward", failed.Message);
        Assert.Equal(2, ReferenceEvents.Of(tag).Count(e => e.StartsWith("disposed reward#", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_checkpoint_of_a_finetune_stage_feeds_a_later_generate_stage_then_judge_and_proportion_shift_and_a_rerun_resumes()
    {
        var (dir, tag) = Setup();
        var file = Write(dir, $$"""
            experiment: before-after
            seed: 7
            stages:
              - id: before
                kind: generate
                plugin: path-generator
                prompts: { before: a portrait photo of a face }
                seeds: 0..5
                options: { model: base.bin, tag: {{tag}} }
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  tag: {{tag}}
                  steps: 3
                  generator: { plugin: path-generator, options: { model: base.bin, tag: {{tag}} } }
                  rewards: [ { plugin: counting-reward, options: { tag: {{tag}} } } ]
                  judges: [ { plugin: parity-judge, options: { tag: {{tag}} } } ]
              - id: after
                kind: generate
                plugin: path-generator
                prompts: { after: a portrait photo of a face }
                seeds: 0..5
                options: { model: { from_stage: tune }, tag: {{tag}} }
              - id: judged
                kind: judge
                plugin: parity-judge
                inputs: [before, after]
                options: { tag: {{tag}} }
              - id: shift
                kind: analyze
                plugin: proportion-shift
                inputs: [judged]
                options: { outcome_column: label, positive_label: odd, group_column: condition, before: before, after: after }
              - kind: report
            """);
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(file);
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);

        // The fine-tune stage's output is its checkpoint, in its work folder under the cache; the 'after' generator was
        // created with that path.
        var checkpoint = Assert.Single(outputs.Single(o => o.Stage.Id == "tune").Checkpoints);
        Assert.Equal("recording-tuner", checkpoint.Component);
        Assert.StartsWith(Path.Combine(dir, "runs", ".cache", "finetune", "tune-"), checkpoint.WorkDirectory);
        Assert.Equal(Path.Combine(checkpoint.WorkDirectory, "checkpoint"), checkpoint.Path);
        var events = ReferenceEvents.Of(tag);
        Assert.Contains($"generator model={checkpoint.Path}", events);
        Assert.Contains($"tuner run 1 seed=7 work={checkpoint.WorkDirectory} out={Path.Combine(store.Directory, "finetune", "tune")}", events);

        var before = outputs.Single(o => o.Stage.Id == "before");
        var after = outputs.Single(o => o.Stage.Id == "after");
        Assert.Equal(6, after.Images.Count);
        var firstAfter = Encoding.UTF8.GetString((await after.Images[0].ReadBytesAsync()).Span);
        Assert.StartsWith("a portrait photo of a face|0|tuned:3:", firstAfter); // made from the checkpoint's "weights"
        Assert.NotEqual((await before.Images[0].ReadBytesAsync()).ToArray(), (await after.Images[0].ReadBytesAsync()).ToArray());
        Assert.Equal(12, outputs.Single(o => o.Stage.Id == "judged").Primary!.RowCount);

        var shift = outputs.Single(o => o.Stage.Id == "shift").Primary!;
        Assert.Equal(6.0, shift.Numeric("n_before")[0]);
        Assert.Equal(6.0, shift.Numeric("n_after")[0]);
        Assert.Equal("completed", JsonNode.Parse(File.ReadAllText(store.ManifestFile))!["status"]!.GetValue<string>());

        // A re-run finds the same work folder (the fine-tuner sees its earlier state) and the same checkpoint, so the
        // 'after' images come from the cache.
        var (_, again) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Contains($"tuner run 2 seed=7 work={checkpoint.WorkDirectory} out=", string.Join("\n", ReferenceEvents.Of(tag)));
        Assert.Equal(checkpoint, again.Single(o => o.Stage.Id == "tune").Checkpoints.Single());
        Assert.Equal((0, 6), (again.Single(o => o.Stage.Id == "after").ItemsComputed, again.Single(o => o.Stage.Id == "after").ItemsFromCache));
    }

    [Fact]
    public async Task The_work_folder_follows_the_referenced_components_options_but_not_their_secrets()
    {
        var (dir, tag) = Setup();
        string Config(string scale, string key) => Write(dir, $$"""
            experiment: work-folder
            stages:
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  tag: {{tag}}
                  reward: { plugin: counting-reward, options: { scale: {{scale}}, api_key: "{{key}}", tag: {{tag}} } }
                  rewards: [ { plugin: secret-reward, options: { api_key: "{{key}}" } } ]   # echoes its key into logs and notes
            """);
        var key1 = "sk-first-" + Guid.NewGuid().ToString("N");
        var key2 = "sk-second-" + Guid.NewGuid().ToString("N");
        var console = new StringWriter();
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"), console);

        async Task<(StageCheckpoint Checkpoint, RunStore Store)> Run(string scale, string key)
        {
            var config = ExperimentConfigLoader.Load(Config(scale, key));
            var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
            return (outputs.Single().Checkpoints.Single(), store);
        }

        var (first, store) = await Run("2", key1);
        var (sameButKey, _) = await Run("2", key2);
        var (otherScale, _) = await Run("3", key1);
        Assert.Equal(first.WorkDirectory, sameButKey.WorkDirectory);   // a new API key is not a new configuration
        Assert.NotEqual(first.WorkDirectory, otherScale.WorkDirectory); // the reward's options are
        Assert.Equal("2", File.ReadAllText(Path.Combine(first.WorkDirectory, "runs.txt")));

        // The nested secrets are masked in the manifest, and neither the run folder, the cache, the log nor the console
        // holds them, although the secret reward logged its key.
        var manifest = JsonNode.Parse(File.ReadAllText(store.ManifestFile))!;
        var referenced = manifest["components"]!.AsArray().Where(c => c!["referenced_by"] is not null).ToList();
        Assert.Equal(2, referenced.Count);
        Assert.All(referenced, r => Assert.Equal("***", r!["options"]!["ApiKey"]!.GetValue<string>()));
        Assert.Contains("calling https://api.example.invalid/v1 with key ***", File.ReadAllText(store.LogFile));
        Assert.DoesNotContain(key1, console.ToString());
        Assert.DoesNotContain(key2, console.ToString());
        foreach (var written in Directory.GetFiles(Path.Combine(dir, "runs"), "*", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(written);
            Assert.DoesNotContain(key1, text);
            Assert.DoesNotContain(key2, text);
        }
    }

    [Fact]
    public async Task A_fine_tuner_written_against_the_original_contract_still_runs_and_its_checkpoint_is_the_output()
    {
        var (dir, tag) = Setup();
        var file = Write(dir, $$"""
            experiment: legacy
            stages:
              - id: tune
                kind: finetune
                plugin: legacy-tuner
                options: { tag: {{tag}} }
            """);
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(file);
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var checkpoint = outputs.Single().Checkpoints.Single();
        Assert.Equal(Path.Combine(store.Directory, "finetune", "tune", "legacy.bin"), checkpoint.Path);
        Assert.Contains($"legacy run out={Path.Combine(store.Directory, "finetune", "tune")}", ReferenceEvents.Of(tag));
    }
}
