using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BiasBench.Host.Runs;

/// <summary>
/// Tells a run that is still going from one that was killed. Every run folder holds <c>run.lock</c> (process id,
/// its start time and the host) while its process runs; a clean end, a failure or Ctrl-C removes it. A manifest that
/// still says <c>running</c> while no live process owns its lock (<c>kill -9</c>, a crash, a power cut) is marked
/// <c>interrupted</c> by the next run that uses the same runs folder or cache. A run on another host is left alone
/// (its process cannot be checked from here), and a reused process id is caught by comparing start times.
/// </summary>
public static class RunLocks
{
    public const string FileName = "run.lock";

    /// <summary>The cache remembers which run folders used it, so runs in other runs folders are checked too.</summary>
    public const string CacheRegistryFile = "runs.txt";

    public static void Write(string runDirectory)
    {
        using var self = Process.GetCurrentProcess();
        var node = new JsonObject
        {
            ["pid"] = Environment.ProcessId,
            ["host"] = Environment.MachineName,
            ["process_start_utc"] = self.StartTime.ToUniversalTime().ToString("O"),
        };
        File.WriteAllText(Path.Combine(runDirectory, FileName), node.ToJsonString());
    }

    public static void Release(string runDirectory)
    {
        try { File.Delete(Path.Combine(runDirectory, FileName)); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Adds the run folder to the cache's list of runs (one absolute path per line).</summary>
    public static void Register(string cacheDirectory, string runDirectory)
    {
        try
        {
            Directory.CreateDirectory(cacheDirectory);
            File.AppendAllText(Path.Combine(cacheDirectory, CacheRegistryFile), Path.GetFullPath(runDirectory) + "\n");
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Run folders to check: every sub-folder of the runs folder and every folder the cache has seen.</summary>
    public static IEnumerable<string> Candidates(string runsRoot, string cacheDirectory)
    {
        var found = new List<string>();
        if (Directory.Exists(runsRoot)) found.AddRange(Directory.EnumerateDirectories(runsRoot));
        var registry = Path.Combine(cacheDirectory, CacheRegistryFile);
        if (File.Exists(registry))
        {
            try { found.AddRange(File.ReadAllLines(registry).Where(l => l.Length > 0)); }
            catch (IOException) { }
        }
        return found.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal).Where(d => File.Exists(Path.Combine(d, "manifest.json")));
    }

    /// <summary>
    /// Marks every run among <paramref name="runDirectories"/> whose manifest says running but whose process is gone as
    /// interrupted (with when it was noticed and by which run). Returns the folders it marked.
    /// </summary>
    public static IReadOnlyList<string> MarkInterrupted(IEnumerable<string> runDirectories, string noticedBy)
    {
        var marked = new List<string>();
        foreach (var dir in runDirectories)
        {
            var manifestFile = Path.Combine(dir, "manifest.json");
            try
            {
                if (JsonNode.Parse(File.ReadAllText(manifestFile)) is not JsonObject manifest) continue;
                if (manifest["status"]?.GetValue<string>() != "running") continue;
                if (IsOwnedByLiveProcess(dir)) continue;
                manifest["status"] = "interrupted";
                manifest["interrupted_noticed_utc"] = DateTime.UtcNow.ToString("O");
                manifest["interrupted_noticed_by"] = noticedBy;
                var tmp = manifestFile + ".tmp";
                File.WriteAllText(tmp, manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                File.Move(tmp, manifestFile, overwrite: true);
                Release(dir);
                marked.Add(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
            {
                // A manifest being rewritten right now, or unreadable: leave it for the next run to look at.
            }
        }
        return marked;
    }

    private static bool IsOwnedByLiveProcess(string runDirectory)
    {
        var lockFile = Path.Combine(runDirectory, FileName);
        if (!File.Exists(lockFile)) return false;
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(lockFile)); }
        catch (JsonException) { return false; } // torn lock: its writer died mid-write
        if (node?["host"]?.GetValue<string>() is { } host && host != Environment.MachineName) return true; // cannot check: assume alive
        if (node?["pid"]?.GetValue<int>() is not { } pid) return false;
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited) return false;
            if (node["process_start_utc"]?.GetValue<string>() is { } started
                && DateTime.TryParse(started, null, System.Globalization.DateTimeStyles.RoundtripKind, out var recorded))
                return Math.Abs((process.StartTime.ToUniversalTime() - recorded.ToUniversalTime()).TotalSeconds) < 2; // else the pid was reused
            return true;
        }
        catch (ArgumentException) { return false; }        // no such process
        catch (InvalidOperationException) { return false; } // exited meanwhile
        catch (System.ComponentModel.Win32Exception) { return true; } // exists but not ours to inspect
    }
}
