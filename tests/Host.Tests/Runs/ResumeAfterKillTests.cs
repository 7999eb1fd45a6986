using System.Diagnostics;
using System.Text.Json.Nodes;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// End-to-end through the real CLI process: a long run is killed (SIGKILL) half way, then re-run; the final table
/// has every row exactly once and only the missing items were computed. Ctrl-C (SIGINT) stops cleanly.
/// </summary>
public class ResumeAfterKillTests
{
    private const int ImageCount = 40;

    private static (string Dir, string Config) Setup(int delayMs)
    {
        var dir = TestApp.TempDir();
        var images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        var rng = new Random(42);
        for (var i = 0; i < ImageCount; i++)
        {
            var bytes = new byte[200 + i * 10];
            rng.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(images, $"face_{i:D3}.png"), bytes);
        }
        var config = Path.Combine(dir, "long.yaml");
        File.WriteAllText(config, $"""
            experiment: long-run
            stages:
              - id: faces
                kind: data
                plugin: image-folder
                options: {"{"} directory: images, prompt: a photo of a face {"}"}
              - id: scores
                kind: score
                plugin: byte-entropy
                batch_size: 2
                options: {"{"} delay_ms: {delayMs} {"}"}
            """);
        return (dir, config);
    }

    private static Process Start(string dir, string config)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { SamplePlugin.HostDll, "run", config, "--runs-dir", Path.Combine(dir, "runs"), "--plugins", SamplePlugin.Directory, "--no-progress", "--device", "cpu" })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static int CachedLines(string dir)
    {
        var cache = Path.Combine(dir, "runs", ".cache", "scores");
        return Directory.Exists(cache) ? Directory.GetFiles(cache, "*.jsonl").Sum(f => File.ReadAllLines(f).Count(l => l.Length > 0)) : 0;
    }

    private static void WaitFor(Func<bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"Timed out waiting for {what}.");
            Thread.Sleep(50);
        }
    }

    [Fact]
    public void A_killed_run_resumes_with_every_row_exactly_once()
    {
        var (dir, config) = Setup(delayMs: 150);
        using (var first = Start(dir, config))
        {
            WaitFor(() => CachedLines(dir) >= 10 || first.HasExited, TimeSpan.FromMinutes(2), "the first results");
            Assert.False(first.HasExited, "the run finished before it could be killed");
            // While it runs, its manifest says so and its lock names it.
            var live = Directory.GetDirectories(Path.Combine(dir, "runs")).Single(d => !d.EndsWith(".cache"));
            Assert.Equal("running", JsonNode.Parse(File.ReadAllText(Path.Combine(live, "manifest.json")))!["status"]!.GetValue<string>());
            Assert.Equal(first.Id, JsonNode.Parse(File.ReadAllText(Path.Combine(live, "run.lock")))!["pid"]!.GetValue<int>());
            first.Kill(entireProcessTree: true);
            first.WaitForExit();
        }
        var done = CachedLines(dir);
        Assert.InRange(done, 10, ImageCount - 1);

        using (var second = Start(dir, config))
        {
            Assert.True(second.WaitForExit(120_000), "the resumed run did not finish");
            Assert.Equal(0, second.ExitCode);
        }
        var runs = Directory.GetDirectories(Path.Combine(dir, "runs")).Where(d => !d.EndsWith(".cache")).Order().ToList();
        Assert.Equal(2, runs.Count);
        // Killed hard, it never wrote an end state; the resumed run noticed its lock has no live process.
        var killed = JsonNode.Parse(File.ReadAllText(Path.Combine(runs[0], "manifest.json")))!;
        Assert.Equal("interrupted", killed["status"]!.GetValue<string>());
        Assert.Equal(Path.GetFileName(runs[1]), killed["interrupted_noticed_by"]!.GetValue<string>());
        Assert.Contains("was killed while running", File.ReadAllText(Path.Combine(runs[1], "run.log")));

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(runs[1], "manifest.json")))!;
        Assert.Equal("completed", manifest["status"]!.GetValue<string>());
        var stage = manifest["stages"]!.AsArray().Single(s => s!["id"]!.GetValue<string>() == "scores")!;
        var fromCache = stage["items_from_cache"]!.GetValue<int>();
        var computed = stage["items_computed"]!.GetValue<int>();
        Assert.True(fromCache >= done, $"{fromCache} from cache, {done} were cached before");
        Assert.Equal(ImageCount, fromCache + computed);

        var rows = File.ReadAllLines(Path.Combine(runs[1], "tables", "scores.csv")).Skip(1).ToList();
        Assert.Equal(ImageCount, rows.Count);
        var ids = rows.Select(r => r.Split(',')[0]).ToList();
        Assert.Equal(ImageCount, ids.Distinct().Count());
        Assert.All(rows, r => Assert.False(string.IsNullOrEmpty(r.Split(',')[^1]), r)); // every score present
        Assert.Equal(ImageCount, CachedLines(dir)); // the cache holds each item exactly once
    }

    [Fact]
    public void Ctrl_c_stops_cleanly_and_marks_the_run_cancelled()
    {
        // 1 s per batch of 2: after the first 4 results the run has ~18 s left, so SIGINT lands mid-run even when a
        // loaded CI machine takes seconds to start `kill` (at 200 ms per batch the run once finished first).
        var (dir, config) = Setup(delayMs: 1000);
        using var p = Start(dir, config);
        WaitFor(() => CachedLines(dir) >= 4 || p.HasExited, TimeSpan.FromMinutes(2), "the first results");
        Assert.False(p.HasExited);
        using (var kill = Process.Start("kill", ["-INT", p.Id.ToString()])) kill.WaitForExit();
        Assert.True(p.WaitForExit(30_000), "the run did not stop after SIGINT");
        Assert.Equal(130, p.ExitCode);
        var run = Directory.GetDirectories(Path.Combine(dir, "runs")).Single(d => !d.EndsWith(".cache"));
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "manifest.json")))!;
        Assert.Equal("cancelled", manifest["status"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(run, "report.md")));
        Assert.Contains("long-run", File.ReadAllText(Path.Combine(run, "run.log")));
    }
}
