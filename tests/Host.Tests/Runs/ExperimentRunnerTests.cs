using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Tests.Runs;

public class ExperimentRunnerTests
{
    private static ExperimentConfig Config(string dir, string yaml)
    {
        var path = Path.Combine(dir, "exp.yaml");
        File.WriteAllText(path, yaml);
        return ExperimentConfigLoader.Load(path);
    }

    [Fact]
    public async Task Scores_every_item_once_and_reports_per_item_failures_without_stopping()
    {
        var dir = TestApp.TempDir();
        var config = Config(dir, """
            experiment: per-item-errors
            stages:
              - id: images
                kind: data
                plugin: memory-images
                options: { count: 8, special: [ok, bad image, boom, fine] }
              - id: scores
                kind: score
                plugin: length-reward
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), interactiveProgress: false, CancellationToken.None);

        var scores = outputs.Single(o => o.Stage.Id == "scores");
        var wide = scores.Primary!;
        Assert.Equal(8, wide.RowCount);
        var values = wide.Numeric("length-reward").Values;
        Assert.Equal(2, values.Count(double.IsNaN));           // 'bad image' fails, 'boom' throws: both isolated
        Assert.Equal(2.0, values[0]);                           // "ok"
        var longTable = scores.Tables[1];
        var errors = longTable.Text("error").Values;
        Assert.Contains(errors, e => e == "cannot decode image");
        Assert.Contains(errors, e => e is not null && e.Contains("native crash simulated"));
        Assert.Equal(2, scores.ItemsFailed);
        Assert.Single(scores.Warnings);

        // Files and manifest.
        Assert.True(File.Exists(Path.Combine(store.TablesDirectory, "scores.csv")));
        Assert.True(File.Exists(Path.Combine(store.Directory, "report.md")));
        Assert.True(File.Exists(Path.Combine(store.Directory, "report.html")));
        var manifest = JsonNode.Parse(File.ReadAllText(store.ManifestFile))!;
        Assert.Equal("completed", manifest["status"]!.GetValue<string>());
        Assert.Equal("length-reward", manifest["components"]![1]!["name"]!.GetValue<string>());
        Assert.NotNull(manifest["machine"]!["cpu_cores"]);
        Assert.Contains("Torch", File.ReadAllText(store.LogFile));
    }

    [Fact]
    public async Task A_rerun_takes_finished_items_from_the_cache_and_retries_failures()
    {
        var dir = TestApp.TempDir();
        var config = Config(dir, """
            experiment: cache
            stages:
              - kind: data
                plugin: memory-images
                options: { count: 6, special: [bad] }
              - id: scores
                kind: score
                plugin: length-reward
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var first = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var second = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var s1 = first.Outputs.Single(o => o.Stage.Id == "scores");
        var s2 = second.Outputs.Single(o => o.Stage.Id == "scores");
        Assert.Equal((5, 0, 1), (s1.ItemsComputed, s1.ItemsFromCache, s1.ItemsFailed));
        Assert.Equal((0, 5, 1), (s2.ItemsComputed, s2.ItemsFromCache, s2.ItemsFailed)); // the failure is not cached
        Assert.Equal(s1.Primary!.Numeric("length-reward").Values, s2.Primary!.Numeric("length-reward").Values);
        Assert.NotEqual(first.Store.Directory, second.Store.Directory);
    }

    [Fact]
    public async Task A_plugin_that_throws_on_creation_fails_the_stage_with_a_clear_message_and_keeps_earlier_stages()
    {
        var dir = TestApp.TempDir();
        var config = Config(dir, """
            experiment: broken
            stages:
              - id: images
                kind: data
                plugin: memory-images
              - id: scores
                kind: score
                plugin: broken-reward
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var e = await Assert.ThrowsAsync<StageFailedException>(() => app.RunAsync(config, app.Plan(config), false, CancellationToken.None));
        Assert.Contains("reward model 'broken-reward' failed to start: weights file is corrupt", e.Message);
        var run = Directory.GetDirectories(Path.Combine(dir, "runs")).Single(d => !d.EndsWith(".cache"));
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "manifest.json")))!;
        Assert.Equal("failed", manifest["status"]!.GetValue<string>());
        Assert.Single(manifest["stages"]!.AsArray());                 // the data stage finished and is recorded
        Assert.True(File.Exists(Path.Combine(run, "tables", "images-memory.csv")) || Directory.GetFiles(Path.Combine(run, "tables"), "*.csv").Length == 1);
        Assert.True(File.Exists(Path.Combine(run, "report.md")));
    }

    [Fact]
    public async Task Unknown_plugins_and_bad_options_are_rejected_before_any_work_with_locations()
    {
        var dir = TestApp.TempDir();
        var config = Config(dir, """
            experiment: invalid
            stages:
              - kind: data
                plugin: memory-imagez
              - kind: score
                plugin: length-reward
                options: { scale: big, colour: red }
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var e = Assert.Throws<ConfigException>(() => app.Plan(config));
        Assert.Contains(e.Problems, p => p.Message.Contains("no dataset named 'memory-imagez'") && p.Message.Contains("did you mean 'memory-images'") && p.Location.Line == 4);
        Assert.Contains(e.Problems, p => p.Message.Contains("'scale' must be a number") && p.Location.Line == 7);
        Assert.Contains(e.Problems, p => p.Message.Contains("unknown option 'colour'"));
        Assert.False(Directory.Exists(Path.Combine(dir, "runs")) && Directory.GetDirectories(Path.Combine(dir, "runs")).Any(d => !d.EndsWith(".cache")));
    }

    [Fact]
    public async Task Generates_prompt_pairs_with_shared_seeds_and_provenance()
    {
        var dir = TestApp.TempDir();
        var config = Config(dir, """
            experiment: gen
            stages:
              - id: gen
                kind: generate
                plugin: bytes-generator
                prompts: { attractive: a photo of an attractive face, unattractive: a photo of an unattractive face }
                seeds: 0..4
              - id: scores
                kind: score
                plugin: length-reward
                inputs: [gen]
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var gen = outputs[0];
        Assert.Equal(10, gen.Images.Count);
        Assert.Equal(5, gen.Images.Count(i => i.Tags["condition"] == "attractive"));
        Assert.True(File.Exists(Path.Combine(store.ImagesDirectory, "gen", "bytes-generator_attractive_3.png")));
        Assert.Contains("\"Seed\": 3", File.ReadAllText(Path.Combine(store.ImagesDirectory, "gen", "bytes-generator_attractive_3.json")));
        var scores = outputs[1].Primary!;
        Assert.Equal(10, scores.RowCount);
        Assert.Equal("attractive", scores.Text("condition")[0]);
        Assert.DoesNotContain(scores.Numeric("length-reward").Values, double.IsNaN);
    }

    [Fact]
    public async Task A_generator_batch_that_throws_fails_only_its_bad_item_and_negative_prompts_and_sweeps_reach_the_images()
    {
        var dir = TestApp.TempDir();
        var config = Config(dir, """
            experiment: gen-failures
            stages:
              - id: gen
                kind: generate
                plugin: throwing-generator
                prompts: { good: a photo of a face, bad: boom face }
                negative_prompt: blurry
                seeds: 0..2
                sweep: { scale: [1, 2] }
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var (_, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Equal(2, outputs.Count);
        foreach (var gen in outputs)
        {
            // Batches of 3 mix good and bad prompts: the good ones still succeed.
            Assert.Equal((3, 3), (gen.ItemsComputed, gen.ItemsFailed));
            var table = gen.Tables.First(t => t.Name == gen.Stage.Id);
            Assert.All(table.Text("negative_prompt").Values, v => Assert.Equal("blurry", v));
            var errors = table.Text("error").Values;
            var conditions = table.Text("condition").Values;
            for (var i = 0; i < errors.Length; i++)
                Assert.Equal(conditions[i] == "bad", errors[i] is not null && errors[i]!.Contains("out of memory"));
            Assert.All(gen.Images, img => Assert.Equal("blurry", img.Tags["negative_prompt"]));
        }
        var ids = outputs.SelectMany(o => o.Tables.First(t => t.Name == o.Stage.Id).Text("image_id").Values).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Contains("throwing-generator_good_0_scale-2", ids);
    }
}
