using System.Text.Json.Nodes;
using BiasBench.Host.Configuration;
using BiasBench.Host.Plugins;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Tests.Runs;

/// <summary>Cached items are keyed by the plugin's build and the weights' checksum: a change of either recomputes them.</summary>
public class CacheProvenanceTests
{
    private static ExperimentConfig Config(string dir, string weights) =>
        Load(dir, $$"""
            experiment: provenance
            stages:
              - id: gen
                kind: generate
                plugin: checksum-generator
                prompts: { a: a photo of a face }
                seeds: 0..2
                options: { weights_file: {{weights}} }
              - id: scores
                kind: score
                plugin: checksum-reward
                inputs: [gen]
                options: { weights_file: {{weights}} }
              - id: judged
                kind: judge
                plugin: checksum-judge
                inputs: [gen]
                options: { weights_file: {{weights}} }
            """);

    private static ExperimentConfig Load(string dir, string yaml)
    {
        var path = Path.Combine(dir, "exp.yaml");
        File.WriteAllText(path, yaml);
        return ExperimentConfigLoader.Load(path);
    }

    private static (int Computed, int Cached)[] Counts(IReadOnlyList<StageOutput> outputs) =>
        outputs.Select(o => (o.ItemsComputed, o.ItemsFromCache)).ToArray();

    [Fact]
    public async Task A_new_weights_checksum_invalidates_generated_scored_and_judged_items()
    {
        var dir = TestApp.TempDir();
        var weights = Path.Combine(dir, "weights.bin");
        File.WriteAllBytes(weights, [1, 2, 3]);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = Config(dir, weights);
        var (_, first) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Equal([(3, 0), (3, 0), (3, 0)], Counts(first));
        var (_, same) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Equal([(0, 3), (0, 3), (0, 3)], Counts(same));

        File.WriteAllBytes(weights, [1, 2, 4]); // same path and options, other weights
        var (store, changed) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Equal([(3, 0), (3, 0), (3, 0)], Counts(changed));
        var manifest = JsonNode.Parse(File.ReadAllText(store.ManifestFile))!;
        Assert.All(manifest["components"]!.AsArray(), c => Assert.False(string.IsNullOrEmpty(c!["plugin_build_id"]?.GetValue<string>())));
    }

    [Fact]
    public async Task A_rebuilt_plugin_invalidates_cached_items_and_the_same_build_reuses_them()
    {
        var dir = TestApp.TempDir();
        var weights = Path.Combine(dir, "weights.bin");
        File.WriteAllBytes(weights, [7]);
        var runs = Path.Combine(dir, "runs");
        async Task<(int, int)[]> RunWith(string build)
        {
            await using var app = await TestApp.StartAsync(runs, buildId: build);
            var config = Config(dir, weights);
            return Counts((await app.RunAsync(config, app.Plan(config), false, CancellationToken.None)).Outputs);
        }
        Assert.Equal([(3, 0), (3, 0), (3, 0)], await RunWith("build-a"));
        Assert.Equal([(3, 0), (3, 0), (3, 0)], await RunWith("build-b")); // same version string, other code
        Assert.Equal([(0, 3), (0, 3), (0, 3)], await RunWith("build-a"));
    }

    [Fact]
    public void The_build_identity_follows_the_code_not_the_version_string()
    {
        var tests = PluginBuildIdentity.Of(typeof(TestComponentsPlugin).Assembly);
        Assert.Equal(tests, PluginBuildIdentity.Of(typeof(TestComponentsPlugin).Assembly)); // stable
        Assert.Matches("^[0-9a-f]{16}$", tests);
        // Two assemblies with the same version number (every BiasBench assembly is 0.1.0) have different identities.
        var statistics = PluginBuildIdentity.Of(typeof(BiasBench.Statistics.Bootstrap).Assembly);
        Assert.Equal(typeof(TestComponentsPlugin).Assembly.GetName().Version, typeof(BiasBench.Statistics.Bootstrap).Assembly.GetName().Version);
        Assert.NotEqual(tests, statistics);
    }

    [Fact]
    public void A_torn_cache_line_is_repaired_once()
    {
        var dir = TestApp.TempDir();
        var file = Path.Combine(dir, "scores", "x.jsonl");
        using (var cache = new ResultCache(file))
        {
            cache.Put("a", 1.0);
            cache.Put("b", 2.0);
        }
        File.AppendAllText(file, "{\"k\":\"c\",\"v\":3"); // killed mid-write
        using (var cache = new ResultCache(file))
        {
            Assert.Equal(1, cache.CorruptLines);
            Assert.Equal(2, cache.Count);
            cache.Put("c", 3.0);
        }
        using (var cache = new ResultCache(file))
        {
            Assert.Equal(0, cache.CorruptLines); // repaired: no second warning
            Assert.Equal(3, cache.Count);
        }
        Assert.Equal(3, File.ReadAllLines(file).Length);
    }

    [Fact]
    public async Task The_torn_line_warning_appears_in_one_run_only()
    {
        var dir = TestApp.TempDir();
        var runs = Path.Combine(dir, "runs");
        var config = Load(dir, """
            experiment: torn
            stages:
              - kind: data
                plugin: memory-images
                options: { count: 4 }
              - id: scores
                kind: score
                plugin: length-reward
            """);
        await using var app = await TestApp.StartAsync(runs);
        await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var cacheFile = Directory.GetFiles(Path.Combine(runs, ".cache", "scores"), "*.jsonl").Single();
        File.AppendAllText(cacheFile, "{\"k\":\"torn");
        var (second, _) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var (third, _) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Contains("unreadable line(s)", File.ReadAllText(second.LogFile));
        Assert.DoesNotContain("unreadable line(s)", File.ReadAllText(third.LogFile));
    }
}
