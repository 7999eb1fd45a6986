using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// Shards as separate CLI processes sharing one cache directory, with real models: the hackathon's 1024 px SDXL
/// JPEGs scored by the exported PickScore-style ONNX fixture model and by the sample plugin (slowed down so a shard
/// can be killed half way). One shard is killed with SIGKILL, a merge is refused, the shards (the killed one again)
/// run at once, and the merge writes exactly the tables of a single-process run.
/// </summary>
public class ShardedProcessTests
{
    private const int Shards = 3;
    private const int Seeds = 6; // 18 images: every prompt condition of seeds 0..5

    private static string Setup(string dir)
    {
        var images = Fixtures.Data("hackathon/sdxl");
        var model = Directory.GetFiles(Fixtures.Path_("onnx_clip"), "*.onnx").Single();
        var vocab = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz");
        // The first seeds of the real score table (header + rows whose image is <seed>_<condition>.jpg with seed < Seeds).
        var lines = File.ReadAllLines(Path.Combine(SamplePlugin.RepoRoot, "samples", "hackathon", "sdxl_scores.csv"));
        var subset = lines.Take(1).Concat(lines.Skip(1).Where(l =>
            int.Parse(l.Split(',')[0].Split('\\', '/').Last(s => s.Length > 0).Split('_')[0], CultureInfo.InvariantCulture) < Seeds));
        File.WriteAllLines(Path.Combine(dir, "sdxl_subset.csv"), subset);
        var config = Path.Combine(dir, "rescore.yaml");
        File.WriteAllText(config, $$"""
            experiment: sharded-rescore
            seed: 0
            stages:
              - id: sdxl
                kind: data
                plugin: hackathon-scores
                options: { path: sdxl_subset.csv, generator: SDXL, images_directory: {{images}} }
              - id: onnx
                kind: score
                plugin: onnx-reward
                inputs: [sdxl]
                options: { model_path: {{model}}, bpe_vocab_path: {{vocab}}, output: logits_per_image, reduce: diagonal, score_name: pickscore-onnx }
              - id: entropy
                kind: score
                plugin: byte-entropy
                inputs: [sdxl]
                batch_size: 1
                options: { delay_ms: 150 }
              - id: onnx-effect
                kind: analyze
                plugin: prompt-condition-effect
                inputs: [onnx]
                options: { conditions: [unattractive, normal, attractive], rewards: [pickscore-onnx] }
              - id: entropy-effect
                kind: analyze
                plugin: prompt-condition-effect
                inputs: [entropy]
                options: { conditions: [unattractive, normal, attractive], rewards: [byte-entropy] }
              - kind: report
            """);
        return config;
    }

    private static Process Start(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { SamplePlugin.HostDll }.Concat(args).Concat(["--plugins", SamplePlugin.Directory, "--no-progress"]))
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static (int ExitCode, string Output) RunToEnd(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { SamplePlugin.HostDll }.Concat(args).Concat(["--plugins", SamplePlugin.Directory, "--no-progress"])) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000)) { p.Kill(true); throw new TimeoutException($"biasbench {string.Join(' ', args)} did not finish."); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static List<string> CacheLines(string cacheDir, string kind, string prefix)
    {
        var folder = Path.Combine(cacheDir, kind);
        return Directory.Exists(folder)
            ? Directory.GetFiles(folder, prefix + "-*.jsonl").SelectMany(File.ReadAllLines).Where(l => l.Length > 0).ToList()
            : [];
    }

    private static void WaitFor(Func<bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"Timed out waiting for {what}.");
            Thread.Sleep(25);
        }
    }

    [Fact]
    public void Shards_with_one_killed_and_rerun_merge_into_the_tables_of_one_process()
    {
        var dir = TestApp.TempDir();
        var config = Setup(dir);

        // The reference: one process, its own cache (a CLI process too: the host's secret registry is per process).
        var reference = RunToEnd(dir, "run", config, "--runs-dir", Path.Combine(dir, "single"), "--device", "cpu");
        Assert.True(reference.ExitCode == 0, reference.Output);
        var single = Directory.GetDirectories(Path.Combine(dir, "single")).Single(d => !d.EndsWith(".cache"));
        // The image ids as the data stage made them (the first CSV column of the score table).
        var ids = File.ReadAllLines(Path.Combine(single, "tables", "entropy.csv")).Skip(1).Select(l => l.Split(',')[0]).ToList();
        var images = ids.Count;
        Assert.Equal(3 * Seeds, images);

        var runs = Path.Combine(dir, "runs");
        var cache = Path.Combine(dir, "cache");
        string[] Shard(int k) => ["run", config, "--runs-dir", runs, "--cache-dir", cache, "--shard", $"{k}/{Shards}", "--device", "cpu"];
        // Kill the shard with the most images half way through its slow stage.
        var owned = Enumerable.Range(0, Shards).Select(k => ids.Count(id => Partition.Bucket(Partition.ImageKey(id), Shards) == k)).ToList();
        var victim = owned.IndexOf(owned.Max());
        Assert.True(owned[victim] >= 4, $"shard sizes {string.Join(", ", owned)}");
        using (var first = Start(dir, Shard(victim)))
        {
            WaitFor(() => CacheLines(cache, "scores", "byte-entropy").Count >= 2 || first.HasExited, TimeSpan.FromMinutes(2), "the first entropy scores");
            Assert.False(first.HasExited, "the shard finished before it could be killed");
            first.Kill(entireProcessTree: true);
            first.WaitForExit();
        }
        var beforeRerun = CacheLines(cache, "scores", "byte-entropy").Count;
        Assert.InRange(beforeRerun, 2, owned[victim] - 1);

        var refused = RunToEnd(dir, "merge", config, "--runs-dir", runs);
        Assert.Equal(Program.ExitShardsNotReady, refused.ExitCode);
        Assert.Contains($"shard {victim}/{Shards}", refused.Output);
        Assert.Contains("'interrupted'", refused.Output); // killed: the merge found no live process holding its lock

        // All shards at once (the killed one again), appending to the same cache files.
        var processes = Enumerable.Range(0, Shards).Select(k => Start(dir, Shard(k))).ToList();
        foreach (var p in processes)
        {
            Assert.True(p.WaitForExit(180_000), "a shard did not finish");
            Assert.Equal(0, p.ExitCode);
            p.Dispose();
        }
        var merged = RunToEnd(dir, "merge", config, "--runs-dir", runs);
        Assert.True(merged.ExitCode == 0, merged.Output);

        var runFolder = Directory.GetDirectories(runs).Single();
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(runFolder, "manifest.json")))!;
        Assert.Equal("completed", manifest["status"]!.GetValue<string>());
        Assert.Equal(Shards, manifest["merged_from"]!.AsArray().Count);
        var rerun = JsonNode.Parse(File.ReadAllText(Path.Combine(runFolder, "shards", $"{victim}-of-{Shards}", "manifest.json")))!;
        var entropy = rerun["stages"]!.AsArray().Single(s => s!["id"]!.GetValue<string>() == "entropy")!;
        Assert.Equal(beforeRerun, entropy["items_from_cache"]!.GetValue<int>()); // the rerun computed only what was missing
        Assert.Equal(owned[victim], entropy["items_from_cache"]!.GetValue<int>() + entropy["items_computed"]!.GetValue<int>());

        // No row lost or duplicated: every cache line whole, every item exactly once.
        foreach (var model in new[] { "byte-entropy", "pickscore-onnx" })
        {
            var lines = CacheLines(cache, "scores", model);
            Assert.Equal(images, lines.Count);
            Assert.Equal(images, lines.Select(l => JsonNode.Parse(l)!["k"]!.GetValue<string>()).Distinct().Count());
        }
        // The merged tables are the single process's, byte for byte.
        var expected = Directory.GetFiles(Path.Combine(single, "tables"), "*.csv").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(expected, Directory.GetFiles(Path.Combine(runFolder, "tables"), "*.csv").Select(Path.GetFileName).Order().ToList());
        foreach (var file in expected)
            Assert.True(File.ReadAllText(Path.Combine(single, "tables", file!)) == File.ReadAllText(Path.Combine(runFolder, "tables", file!)), $"{file} differs");
        Assert.Equal(images, File.ReadAllLines(Path.Combine(runFolder, "tables", "entropy.csv")).Length - 1);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(runFolder, "figures"), "*.png"));
        Assert.Contains("entropy-effect", File.ReadAllText(Path.Combine(runFolder, "report.md")));
    }

    [Fact]
    public void Processes_appending_to_one_cache_at_once_never_tear_or_lose_a_line()
    {
        const int items = 150, processes = 3;
        var dir = TestApp.TempDir();
        var folder = Path.Combine(dir, "images");
        Directory.CreateDirectory(folder);
        var rng = new Random(5);
        for (var i = 0; i < items; i++)
        {
            var bytes = new byte[64 + i];
            rng.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(folder, $"img_{i:D4}.png"), bytes);
        }
        var config = Path.Combine(dir, "same.yaml");
        File.WriteAllText(config, """
            experiment: same-work
            stages:
              - id: faces
                kind: data
                plugin: image-folder
                options: { directory: images, prompt: a face }
              - id: scores
                kind: score
                plugin: byte-entropy
                batch_size: 1
                options: { delay_ms: 10 }
            """);
        // Unsharded and started together: every process computes every item and appends it to the same file.
        var cache = Path.Combine(dir, "cache");
        var running = Enumerable.Range(0, processes)
            .Select(p => Start(dir, "run", config, "--runs-dir", Path.Combine(dir, $"runs{p}"), "--cache-dir", cache, "--device", "cpu")).ToList();
        foreach (var p in running)
        {
            Assert.True(p.WaitForExit(180_000), "a run did not finish");
            Assert.Equal(0, p.ExitCode);
            p.Dispose();
        }
        var computed = Enumerable.Range(0, processes).Sum(p =>
        {
            var run = Directory.GetDirectories(Path.Combine(dir, $"runs{p}")).Single(d => !d.EndsWith(".cache"));
            return JsonNode.Parse(File.ReadAllText(Path.Combine(run, "manifest.json")))!["stages"]!.AsArray()
                .Single(s => s!["id"]!.GetValue<string>() == "scores")!["items_computed"]!.GetValue<int>();
        });
        var lines = CacheLines(cache, "scores", "byte-entropy");
        Assert.True(computed > items, $"the processes did not overlap ({computed} computed)");
        Assert.Equal(computed, lines.Count); // nothing overwritten
        Assert.All(lines, l => Assert.Equal(64, JsonNode.Parse(l)!["k"]!.GetValue<string>().Length)); // nothing torn or interleaved
        Assert.Equal(items, lines.Select(l => JsonNode.Parse(l)!["k"]!.GetValue<string>()).Distinct().Count());
    }
}
