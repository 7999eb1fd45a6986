using System.Text.Json.Nodes;
using BiasBench.Host.Cli;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// Shards, their merge and several device workers, in-process with the host's test components: every expensive
/// stage's items are partitioned (a score stage over a data stage, a generate stage, and a score stage over the generated
/// images), the merge's tables are byte-identical to a single process's, and merges of incomplete or mismatched
/// shards are refused with the reason.
/// </summary>
public class ScaleOutTests
{
    private const int Images = 30;

    private static string WriteConfig(string dir, int scale = 1, string name = "exp.yaml")
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, $$"""
            experiment: scale-out
            seed: 0
            stages:
              - id: images
                kind: data
                plugin: memory-images
                options: { count: {{Images}}, special: [ok, bad image] }
              - id: scores
                kind: score
                plugin: length-reward
                batch_size: 4
                options: { scale: {{scale}} }
              - id: gen
                kind: generate
                plugin: bytes-generator
                prompts: { short: "a face", long: "a photo of a face" }
                seeds: 0..9
              - id: gen-scores
                kind: score
                plugin: length-reward
                inputs: [gen]
              - id: summary
                kind: analyze
                plugin: dataset-summary
                inputs: [gen-scores]
                options: { values: [length-reward], group_column: condition }
              - kind: report
            """);
        return path;
    }

    private static async Task<(RunStore Store, IReadOnlyList<StageOutput> Outputs)> Run(string runsDir, string configPath, Action<HostSettings>? settings = null, bool merge = false)
    {
        await using var app = await TestApp.StartAsync(runsDir, configure: settings);
        var config = ExperimentConfigLoader.Load(configPath);
        return merge
            ? await app.MergeAsync(config, app.Plan(config), false, CancellationToken.None)
            : await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
    }

    /// <summary>
    /// Every table of a run as CSV text, rendered from the stage outputs (the files' content before the host's secret
    /// redaction, whose registry is per process and shared by the tests running in it).
    /// </summary>
    private static Dictionary<string, string> Csvs(IReadOnlyList<StageOutput> outputs) =>
        outputs.SelectMany(o => o.Tables.Select(t => (Name: $"{o.Stage.Id}/{t.Name}", Table: t))).ToDictionary(x => x.Name, x =>
        {
            using var text = new StringWriter();
            BiasBench.Data.CsvTable.Write(x.Table, text);
            return text.ToString();
        });

    [Fact]
    public async Task Shards_split_every_expensive_stage_and_their_merge_writes_the_tables_of_one_process()
    {
        var dir = TestApp.TempDir();
        var config = WriteConfig(dir);
        var (single, singleOutputs) = await Run(Path.Combine(dir, "single"), config);

        const int n = 3;
        var shardRuns = Path.Combine(dir, "sharded");
        var owned = new List<string>(); var generated = new List<string>(); var generatedScored = new List<string>();
        for (var k = 0; k < n; k++)
        {
            var (store, outputs) = await Run(shardRuns, config, s => s.Shard = $"{k}/{n}");
            Assert.EndsWith(Path.Combine("shards", $"{k}-of-{n}"), store.Directory);
            var manifest = JsonNode.Parse(File.ReadAllText(store.ManifestFile))!;
            Assert.Equal("completed", manifest["status"]!.GetValue<string>());
            Assert.Contains(manifest["stages"]!.AsArray(), s => s!["id"]!.GetValue<string>() == "summary" && s["skipped"] is not null);
            Assert.DoesNotContain(outputs, o => o.Stage.Id == "summary"); // analyses wait for the merge
            owned.AddRange(outputs.Single(o => o.Stage.Id == "scores").Primary!.Text("image_id").Values!);
            generated.AddRange(outputs.Single(o => o.Stage.Id == "gen").Primary!.Text("image_id").Values!);
            generatedScored.AddRange(outputs.Single(o => o.Stage.Id == "gen-scores").Primary!.Text("image_id").Values!);
            // Each shard scores exactly the images it generated.
            Assert.Equal(outputs.Single(o => o.Stage.Id == "gen").Primary!.Text("image_id").Values.Order(),
                outputs.Single(o => o.Stage.Id == "gen-scores").Primary!.Text("image_id").Values.Order());
        }
        // A partition: every item in exactly one shard.
        Assert.Equal(Images, owned.Count);
        Assert.Equal(Images, owned.Distinct().Count());
        Assert.Equal(20, generated.Count);
        Assert.Equal(20, generated.Distinct().Count());
        Assert.Equal(20, generatedScored.Distinct().Count());

        var (merged, mergedOutputs) = await Run(shardRuns, config, merge: true);
        Assert.Equal(shardRuns, Path.GetDirectoryName(merged.Directory)); // the run folder the shards share
        Assert.True(Directory.Exists(Path.Combine(merged.Directory, "shards")));
        Assert.All(mergedOutputs.Where(o => ScaleOut.IsPartitioned(o.Stage.Kind)), o => Assert.Equal(0, o.ItemsComputed)); // all from the cache
        var expected = Csvs(singleOutputs);
        var actual = Csvs(mergedOutputs);
        Assert.Equal(Directory.GetFiles(single.TablesDirectory).Select(Path.GetFileName).Order(), Directory.GetFiles(merged.TablesDirectory).Select(Path.GetFileName).Order());
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (file, text) in expected) Assert.True(text == actual[file], $"{file} differs from the single-process run");
        Assert.Equal(Directory.GetFiles(single.FiguresDirectory).Select(Path.GetFileName).Order(), Directory.GetFiles(merged.FiguresDirectory).Select(Path.GetFileName).Order());
        Assert.True(File.Exists(Path.Combine(merged.Directory, "report.md")));
        var mergedManifest = JsonNode.Parse(File.ReadAllText(merged.ManifestFile))!;
        Assert.Equal(n, mergedManifest["merged_from"]!.AsArray().Count);
        Assert.Equal("merge", mergedManifest["scale_out"]!["role"]!.GetValue<string>());
        // The failed item ("bad image") was recorded by its shard and is a failure in the merged table too.
        Assert.Contains(mergedOutputs.Single(o => o.Stage.Id == "scores").Tables[1].Text("error").Values, e => e == "cannot decode image");
    }

    [Fact]
    public async Task A_merge_refuses_missing_unfinished_and_mismatched_shards()
    {
        var dir = TestApp.TempDir();
        var config = WriteConfig(dir);
        var runs = Path.Combine(dir, "runs");
        void Named(HostSettings s) => s.RunId = "campaign";

        var none = await Assert.ThrowsAsync<ShardMergeException>(() => Run(runs, config, Named, merge: true));
        Assert.Contains("no shards", none.Message);

        await Run(runs, config, s => { Named(s); s.Shard = "0/3"; });
        var missing = await Assert.ThrowsAsync<ShardMergeException>(() => Run(runs, config, Named, merge: true));
        Assert.Contains("shard 1/3 has not run", missing.Message);
        Assert.Contains("shard 2/3 has not run", missing.Message);

        // Shard 1 ran another config (a different option of the reward model) into the same run folder.
        var other = WriteConfig(dir, scale: 2, name: "other.yaml");
        await Run(runs, other, s => { Named(s); s.Shard = "1/3"; });
        // Shard 2 was killed: its manifest still says 'running'.
        await Run(runs, config, s => { Named(s); s.Shard = "2/3"; });
        var shard2 = Path.Combine(runs, "campaign", "shards", "2-of-3", "manifest.json");
        var m2 = JsonNode.Parse(File.ReadAllText(shard2))!;
        m2["status"] = "running";
        File.WriteAllText(shard2, m2.ToJsonString());
        var mismatched = await Assert.ThrowsAsync<ShardMergeException>(() => Run(runs, config, Named, merge: true));
        Assert.Contains("shard 1/3 ran other work", mismatched.Message);
        Assert.Contains("options", mismatched.Message);
        Assert.Contains("shard 2/3 is 'interrupted'", mismatched.Message); // no process holds its lock: the merge marks it

        // Rerun both with the right config: now shard 0 says it scored with other weights than the others.
        await Run(runs, config, s => { Named(s); s.Shard = "1/3"; });
        await Run(runs, config, s => { Named(s); s.Shard = "2/3"; });
        var shard0 = Path.Combine(runs, "campaign", "shards", "0-of-3", "manifest.json");
        var m0 = JsonNode.Parse(File.ReadAllText(shard0))!;
        var scores = m0["stages"]!.AsArray().Single(s => s!["id"]!.GetValue<string>() == "scores")!;
        scores["components"]![0]!["info"]!["WeightsChecksum"] = "0123abcd";
        File.WriteAllText(shard0, m0.ToJsonString());
        var weights = await Assert.ThrowsAsync<ShardMergeException>(() => Run(runs, config, Named, merge: true));
        Assert.Contains("stage 'scores'", weights.Message);
        Assert.Contains("0123abcd", weights.Message);

        // With shard 0 rerun, the merge goes through.
        await Run(runs, config, s => { Named(s); s.Shard = "0/3"; });
        var (merged, _) = await Run(runs, config, Named, merge: true);
        Assert.Equal("completed", JsonNode.Parse(File.ReadAllText(merged.ManifestFile))!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_merge_refuses_items_that_no_shard_finished()
    {
        var dir = TestApp.TempDir();
        var config = WriteConfig(dir);
        var runs = Path.Combine(dir, "runs");
        for (var k = 0; k < 2; k++) await Run(runs, config, s => s.Shard = $"{k}/2");
        // The cache lost its scores (e.g. another cache directory): the merge must not invent rows.
        foreach (var file in Directory.GetFiles(Path.Combine(runs, ".cache", "scores"), "length-reward-*.jsonl")) File.WriteAllText(file, "");
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(runs, config, merge: true));
        Assert.Contains("neither in the cache", e.Message);
    }

    [Fact]
    public async Task Several_device_workers_spread_the_items_and_write_the_same_tables_as_one()
    {
        var dir = TestApp.TempDir();
        var config = WriteConfig(dir);
        var (_, oneOutputs) = await Run(Path.Combine(dir, "one"), config);
        var (two, outputs) = await Run(Path.Combine(dir, "two"), config, s => s.Devices = "cpu,cpu");
        Assert.Equal(Csvs(oneOutputs), Csvs(outputs));
        var manifest = JsonNode.Parse(File.ReadAllText(two.ManifestFile))!;
        var workers = manifest["stages"]!.AsArray().Single(s => s!["id"]!.GetValue<string>() == "scores")!["components"]![0]!["workers"]!.AsArray();
        Assert.Equal(["cpu", "cpu"], workers.Select(w => w!["device"]!.GetValue<string>()));
        var counts = workers.Select(w => w!["items"]!.GetValue<int>()).ToList();
        Assert.Equal(Images, counts.Sum());
        Assert.All(counts, c => Assert.True(c > 0, $"a worker got no items: {string.Join(", ", counts)}"));
        var scores = outputs.Single(o => o.Stage.Id == "scores");
        Assert.Equal((Images - 1, 1), (scores.ItemsComputed, scores.ItemsFailed)); // every item once; "bad image" fails
    }

    [Theory]
    [InlineData("0/1", 0, 1)]
    [InlineData("3/8", 3, 8)]
    public void Shard_specs_parse(string text, int k, int n) => Assert.Equal(new ShardSpec(k, n), ShardSpec.Parse(text));

    [Theory]
    [InlineData("3/3")]
    [InlineData("-1/3")]
    [InlineData("1/0")]
    [InlineData("1")]
    public void Bad_shard_specs_say_what_is_expected(string text) =>
        Assert.Contains("0 <= K < N", Assert.Throws<ArgumentException>(() => ShardSpec.Parse(text)).Message);

    [Fact]
    public void Device_lists_expand_and_are_checked()
    {
        Assert.Equal(["cuda:0", "cuda:1"], ScaleOut.ParseDevices("all", 2));
        Assert.Equal(["cpu"], ScaleOut.ParseDevices("all", 0));
        Assert.Equal(["cpu", "cpu"], ScaleOut.ParseDevices("cpu,cpu", 0));
        Assert.Equal(["cuda:1", "cuda:0"], ScaleOut.ParseDevices("cuda:1, cuda:0", 2));
        Assert.Contains("cuda:2 does not exist", Assert.Throws<ArgumentException>(() => ScaleOut.ParseDevices("cuda:0,cuda:2", 2)).Message);
        Assert.Contains("not a device", Assert.Throws<ArgumentException>(() => ScaleOut.ParseDevices("gpu0", 2)).Message);
    }

    [Fact]
    public void The_partition_is_deterministic_and_roughly_even()
    {
        var counts = new int[4];
        for (var i = 0; i < 4000; i++) counts[Partition.Bucket($"image\0img{i:D5}", 4)]++;
        Assert.All(counts, c => Assert.InRange(c, 850, 1150));
        Assert.Equal(Partition.Bucket("image\0x", 7), Partition.Bucket("image\0x", 7));
        Assert.Equal(0, Partition.Bucket("anything", 1));
    }
}
