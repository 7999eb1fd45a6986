using System.Diagnostics;
using System.Text.Json.Nodes;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Tests.Runs;

/// <summary>What a user sees when a run fails: one clear reason, in the console, the manifest, run.log and the report.</summary>
public class RunFailureTests
{
    [Fact]
    public async Task Out_of_gpu_memory_names_the_stage_and_batch_size_suggests_a_smaller_batch_and_keeps_finished_items()
    {
        var dir = TestApp.TempDir();
        var path = Path.Combine(dir, "oom.yaml");
        // Batches of 3: the first batch finishes, the second holds the item that runs out of memory.
        File.WriteAllText(path, """
            experiment: oom
            stages:
              - kind: data
                plugin: memory-images
                options: { count: 9, special: [a, b, c, d, oom, f] }
              - id: scores
                kind: score
                plugin: oom-reward
              - kind: report
            """);
        var config = ExperimentConfigLoader.Load(path);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var e = await Assert.ThrowsAsync<StageFailedException>(() => app.RunAsync(config, app.Plan(config), false, CancellationToken.None));
        Assert.Contains("Stage 'scores'", e.Message);
        Assert.Contains("oom-reward ran out of memory on a batch of 3 item(s)", e.Message);
        Assert.Contains("CUDA out of memory. Tried to allocate 2.00 GiB", e.Message);
        Assert.Contains("Items finished before this batch are cached", e.Message);
        Assert.Contains("'batch_size: 1' to stage 'scores'", e.Message);
        Assert.DoesNotContain("CUDACachingAllocator", e.Message); // one line of libtorch's message, not its trace

        var cache = Directory.GetFiles(Path.Combine(dir, "runs", ".cache", "scores"), "*.jsonl").Single();
        Assert.Equal(3, File.ReadAllLines(cache).Length);

        var run = Directory.GetDirectories(Path.Combine(dir, "runs")).Single(d => !d.EndsWith(".cache", StringComparison.Ordinal));
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "manifest.json")))!;
        Assert.Equal("failed", manifest["status"]!.GetValue<string>());
        Assert.Contains("batch of 3", manifest["error"]!.GetValue<string>());
        Assert.Contains("Run failed: Stage 'scores': oom-reward ran out of memory", File.ReadAllText(Path.Combine(run, "run.log")));
        var report = File.ReadAllText(Path.Combine(run, "report.md"));
        Assert.Contains("## Why the run failed", report);
        Assert.Contains("batch of 3", report);
        Assert.False(File.Exists(Path.Combine(run, RunLocks.FileName)), "a finished (failed) run keeps no lock");

        // With a smaller batch the finished items come from the cache and only the rest is computed (the 'oom' item
        // fails the same way again, alone now: it is what does not fit).
        File.WriteAllText(path, File.ReadAllText(path).Replace("plugin: oom-reward", "plugin: oom-reward\n    batch_size: 1"));
        var smaller = ExperimentConfigLoader.Load(path);
        var again = await Assert.ThrowsAsync<StageFailedException>(() => app.RunAsync(smaller, app.Plan(smaller), false, CancellationToken.None));
        Assert.Contains("on a batch of 1 item(s)", again.Message);
        Assert.Contains("Even one item does not fit", again.Message);
        Assert.Equal(4, File.ReadAllLines(cache).Length); // 'd' was computed; a, b, c came from the cache
    }

    [Fact]
    public void A_running_manifest_without_a_live_process_is_marked_interrupted_and_a_live_one_is_left_alone()
    {
        var root = TestApp.TempDir();
        string Run(string name, JsonObject? lockFile)
        {
            var dir = Path.Combine(root, name);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "manifest.json"), new JsonObject { ["status"] = "running" }.ToJsonString());
            if (lockFile is not null) File.WriteAllText(Path.Combine(dir, RunLocks.FileName), lockFile.ToJsonString());
            return dir;
        }
        var live = Run("live", null);
        RunLocks.Write(live); // this test process: alive
        using var exited = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        exited.WaitForExit();
        var dead = Run("dead", new JsonObject { ["pid"] = exited.Id, ["host"] = Environment.MachineName, ["process_start_utc"] = DateTime.UtcNow.ToString("O") });
        var reused = Run("reused", new JsonObject { ["pid"] = Environment.ProcessId, ["host"] = Environment.MachineName, ["process_start_utc"] = "2001-01-01T00:00:00.0000000Z" });
        var noLock = Run("no-lock", null);
        var elsewhere = Run("other-host", new JsonObject { ["pid"] = 1, ["host"] = "another-machine-" + Guid.NewGuid().ToString("N"), ["process_start_utc"] = "2001-01-01T00:00:00.0000000Z" });

        var marked = RunLocks.MarkInterrupted(RunLocks.Candidates(root, Path.Combine(root, "no-cache")), "later-run");
        Assert.Equal(new[] { dead, noLock, reused }.Order(), marked.Order());
        string Status(string d) => JsonNode.Parse(File.ReadAllText(Path.Combine(d, "manifest.json")))!["status"]!.GetValue<string>();
        Assert.Equal("running", Status(live));
        Assert.Equal("running", Status(elsewhere));
        Assert.Equal("interrupted", Status(dead));
        Assert.Equal("later-run", JsonNode.Parse(File.ReadAllText(Path.Combine(dead, "manifest.json")))!["interrupted_noticed_by"]!.GetValue<string>());
        Assert.False(File.Exists(Path.Combine(dead, RunLocks.FileName)));
    }
}
