using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BiasBench.Host.Runs;

/// <summary>A merge was refused: shards missing, unfinished, or run with another config, plugin version or weights.</summary>
public sealed class ShardMergeException(string runFolder, IReadOnlyList<string> problems)
    : InvalidOperationException($"Cannot merge the shards in {runFolder}:\n  - {string.Join("\n  - ", problems)}")
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// The shards of one run (run folder/shards/K-of-N/manifest.json), checked to be complete and to belong together
/// before they are merged: every K of one N present and 'completed', the same config, plugin versions and options
/// (the run fingerprint), the same component infos (versions, weights checksums) and the same cache directory.
/// </summary>
public sealed partial class ShardSet
{
    private ShardSet(int count, string cacheDirectory, ShardRecords records, JsonArray summary)
    {
        Count = count; CacheDirectory = cacheDirectory; Records = records; Summary = summary;
    }

    public int Count { get; }
    public string CacheDirectory { get; }
    public ShardRecords Records { get; }
    /// <summary>One entry per shard for the merged manifest (folder, times, counts).</summary>
    public JsonArray Summary { get; }

    public static string ShardsDirectory(string runFolder) => Path.Combine(runFolder, "shards");

    [GeneratedRegex(@"^(?<k>[0-9]+)-of-(?<n>[0-9]+)$")]
    private static partial Regex FolderPattern();

    /// <summary>Loads and checks the shards; throws <see cref="ShardMergeException"/> listing every problem found.</summary>
    public static ShardSet Load(string runFolder, string expectedFingerprint, JsonObject expectedDetail)
    {
        var problems = new List<string>();
        var dir = ShardsDirectory(runFolder);
        var folders = Directory.Exists(dir)
            ? Directory.GetDirectories(dir).Select(d => (Path: d, Match: FolderPattern().Match(Path.GetFileName(d)))).Where(x => x.Match.Success).ToList()
            : [];
        if (folders.Count == 0)
            throw new ShardMergeException(runFolder, [$"no shards in {dir} (biasbench run CONFIG --shard K/N writes shards/K-of-N there; same --runs-dir and --run-id as the merge)."]);
        var counts = folders.Select(f => int.Parse(f.Match.Groups["n"].Value, CultureInfo.InvariantCulture)).Distinct().Order().ToList();
        if (counts.Count > 1)
            throw new ShardMergeException(runFolder, [$"shards of different counts ({string.Join(", ", counts.Select(c => $"N={c}"))}) in {dir}: remove the folders of the split that is not wanted."]);
        var n = counts[0];

        var manifests = new SortedDictionary<int, JsonObject>();
        for (var k = 0; k < n; k++)
        {
            var file = Path.Combine(dir, new ShardSpec(k, n).FolderName, "manifest.json");
            if (!File.Exists(file)) { problems.Add($"shard {k}/{n} has not run (no {file})."); continue; }
            try { manifests[k] = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new JsonException("not a JSON object"); }
            catch (Exception e) when (e is JsonException or IOException) { problems.Add($"shard {k}/{n}: {file} cannot be read ({e.Message})."); }
        }

        string? cacheDirectory = null;
        var infos = new Dictionary<(string Stage, int Index), (int Shard, string Json)>();
        var records = new ShardRecords();
        var summary = new JsonArray();
        foreach (var (k, m) in manifests)
        {
            var status = m["status"]?.GetValue<string>() ?? "unknown";
            if (status != "completed")
                problems.Add($"shard {k}/{n} is '{status}'{Where(m)}: it is still running, or it was stopped; rerun it (biasbench run CONFIG --shard {k}/{n}) and merge again.");
            var fingerprint = m["fingerprint"]?.GetValue<string>();
            if (fingerprint != expectedFingerprint)
                problems.Add($"shard {k}/{n} ran other work than this config and these plugins: {Difference(expectedDetail, m["fingerprint_detail"] as JsonObject)}.");
            var cache = m["cache_dir"]?.GetValue<string>();
            if (cacheDirectory is null) cacheDirectory = cache;
            else if (cache != cacheDirectory)
                problems.Add($"shard {k}/{n} used the cache {cache}, shard {manifests.Keys.First()}/{n} {cacheDirectory}: all shards must share one cache directory (--cache-dir).");

            var computed = 0; var fromCache = 0; var failed = 0;
            foreach (var stage in m["stages"]?.AsArray() ?? [])
            {
                if (stage is not JsonObject s || s["skipped"] is not null) continue;
                computed += s["items_computed"]?.GetValue<int>() ?? 0;
                fromCache += s["items_from_cache"]?.GetValue<int>() ?? 0;
                failed += s["items_failed"]?.GetValue<int>() ?? 0;
                var stageId = s["id"]!.GetValue<string>();
                foreach (var component in s["components"]?.AsArray() ?? [])
                {
                    if (component is not JsonObject c) continue;
                    var index = c["index"]!.GetValue<int>();
                    var info = c["info"];
                    var json = info?.ToJsonString() ?? "null";
                    if (infos.TryGetValue((stageId, index), out var first) && first.Json != json)
                        problems.Add($"stage '{stageId}', {c["name"]}: shard {k}/{n} ran {json}, shard {first.Shard}/{n} ran {first.Json} (another version or other weights).");
                    else infos.TryAdd((stageId, index), (k, json));
                    var failures = (c["failures"] as JsonObject ?? []).Select(kv => KeyValuePair.Create(kv.Key,
                        (kv.Value?["error"]?.GetValue<string>() ?? "failed", kv.Value?["value"]?.DeepClone())));
                    records.Add(stageId, index, info, failures);
                }
            }
            summary.Add(new JsonObject
            {
                ["shard"] = $"{k}/{n}",
                ["folder"] = Path.GetRelativePath(runFolder, Path.Combine(dir, new ShardSpec(k, n).FolderName)).Replace('\\', '/'),
                ["status"] = status,
                ["host"] = m["machine"]?["host"]?.GetValue<string>(),
                ["devices"] = m["scale_out"]?["devices"]?.DeepClone(),
                ["started_utc"] = m["started_utc"]?.GetValue<string>(),
                ["finished_utc"] = m["finished_utc"]?.GetValue<string>(),
                ["items_computed"] = computed,
                ["items_from_cache"] = fromCache,
                ["items_failed"] = failed,
            });
        }
        if (problems.Count > 0) throw new ShardMergeException(runFolder, problems);
        return new ShardSet(n, cacheDirectory!, records, summary);
    }

    private static string Where(JsonObject m)
    {
        var last = m["stages"]?.AsArray().LastOrDefault()?["id"]?.GetValue<string>();
        var host = m["machine"]?["host"]?.GetValue<string>();
        return $" (started {m["started_utc"]?.GetValue<string>() ?? "?"} on {host ?? "?"}{(last is null ? "" : $", last finished stage '{last}'")})";
    }

    /// <summary>What differs between the merge's fingerprint and a shard's, in words.</summary>
    private static string Difference(JsonObject expected, JsonObject? actual)
    {
        if (actual is null) return "it recorded no fingerprint (not a shard of this BiasBench version)";
        var parts = new List<string>();
        foreach (var key in new[] { "experiment", "config_sha256", "biasbench_version" })
            if (expected[key]?.ToJsonString() != actual[key]?.ToJsonString())
                parts.Add($"{key.Replace('_', ' ')} {actual[key]?.ToJsonString() ?? "none"} (here {expected[key]?.ToJsonString() ?? "none"})");
        var mine = expected["components"]?.AsArray() ?? [];
        var theirs = actual["components"]?.AsArray() ?? [];
        if (mine.Count != theirs.Count) parts.Add($"{theirs.Count} components (here {mine.Count})");
        for (var i = 0; i < Math.Min(mine.Count, theirs.Count); i++)
            foreach (var key in new[] { "name", "version", "plugin", "plugin_version", "plugin_build", "options" })
                if (mine[i]?[key]?.ToJsonString() != theirs[i]?[key]?.ToJsonString())
                    parts.Add($"stage '{mine[i]?["stage"]}' {mine[i]?["name"]}: {key.Replace('_', ' ')} {theirs[i]?[key]?.ToJsonString()} (here {mine[i]?[key]?.ToJsonString()})");
        return parts.Count > 0 ? string.Join("; ", parts) : "a different fingerprint";
    }
}
