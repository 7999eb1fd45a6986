using System.Buffers.Binary;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Plugins;

namespace BiasBench.Host.Runs;

/// <summary>Shard K of N (K from 0), written "K/N" on the command line.</summary>
public readonly record struct ShardSpec(int Index, int Count)
{
    public static ShardSpec Parse(string text)
    {
        var parts = (text ?? "").Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var k)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            && n >= 1 && k < n)
            return new ShardSpec(k, n);
        throw new ArgumentException($"--shard '{text}': use K/N with 0 <= K < N, e.g. 0/4 for the first of four shards (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; Kubernetes: $JOB_COMPLETION_INDEX/N).");
    }

    /// <summary>The shard's folder under the run folder's shards/.</summary>
    public string FolderName => $"{Index}-of-{Count}";

    public override string ToString() => $"{Index}/{Count}";
}

/// <summary>Deterministic assignment of items to shards and device workers: the same in every process.</summary>
public static class Partition
{
    /// <summary>The first 8 bytes of the key's SHA-256, modulo <paramref name="count"/>.</summary>
    public static int Bucket(string key, int count)
    {
        if (count <= 1) return 0;
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        return (int)(BinaryPrimitives.ReadUInt64BigEndian(hash) % (ulong)count);
    }

    /// <summary>An input image's shard key: its id (no file is read to decide who owns it).</summary>
    public static string ImageKey(ImageRef image) => ImageKey(image.Id);

    public static string ImageKey(string imageId) => "image\0" + imageId;

    /// <summary>A generation request's shard key: prompt, seed and negative prompt (what makes the image).</summary>
    public static string GenerationKey(GenerationRequest request) =>
        $"generate\0{request.Prompt}\0{request.Seed.ToString(CultureInfo.InvariantCulture)}\0{request.NegativePrompt}";
}

public enum RunRole { Single, Shard, Merge }

/// <summary>
/// How one process takes part in a run: alone, as shard K of N (only its part of every expensive stage's items; the
/// analyses and the report wait for the merge), or as the merge (every expensive result comes from the shared cache
/// or from the failures the shards recorded; nothing expensive is computed). Independently, expensive stages run one
/// worker per device, items spread by content hash.
/// </summary>
public sealed class ScaleOut
{
    private ScaleOut(RunRole role, ShardSpec? shard, IReadOnlyList<string> devices, ShardRecords? recorded)
    {
        Role = role; Shard = shard; Devices = devices; Recorded = recorded;
    }

    public static ScaleOut Single(IReadOnlyList<string> devices) => new(RunRole.Single, null, Check(devices), null);
    public static ScaleOut ForShard(ShardSpec shard, IReadOnlyList<string> devices) => new(RunRole.Shard, shard, Check(devices), null);
    public static ScaleOut ForMerge(ShardRecords recorded) => new(RunRole.Merge, null, [], recorded);

    public RunRole Role { get; }
    public ShardSpec? Shard { get; }

    /// <summary>One worker per entry (a device may repeat: cpu,cpu runs two CPU workers). Empty when merging.</summary>
    public IReadOnlyList<string> Devices { get; }

    internal ShardRecords? Recorded { get; }

    /// <summary>Whether this process computes items that come from <paramref name="source"/>: a shard takes its part of
    /// the items of unpartitioned stages (data), and all of what its own partitioned stages produced.</summary>
    public bool Owns(ImageRef image, StageOutput source) =>
        Shard is not { } shard || IsPartitioned(source.Stage.Kind) || Partition.Bucket(Partition.ImageKey(image), shard.Count) == shard.Index;

    public bool Owns(GenerationRequest request) =>
        Shard is not { } shard || Partition.Bucket(Partition.GenerationKey(request), shard.Count) == shard.Index;

    /// <summary>Shards run the expensive stages; analyses and the report need every item and run at the merge.</summary>
    public bool RunsStage(StageKind kind) => Role != RunRole.Shard || kind is StageKind.Data or StageKind.Generate or StageKind.Score or StageKind.Judge;

    public static bool IsPartitioned(StageKind kind) => kind is StageKind.Generate or StageKind.Score or StageKind.Judge;

    public JsonObject Describe() => new()
    {
        ["role"] = Role.ToString().ToLowerInvariant(),
        ["shard"] = Shard is { } s ? new JsonObject { ["index"] = s.Index, ["count"] = s.Count } : null,
        ["devices"] = new JsonArray(Devices.Select(d => (JsonNode)d!).ToArray()),
    };

    private static IReadOnlyList<string> Check(IReadOnlyList<string> devices) =>
        devices.Count > 0 ? devices : throw new ArgumentException("At least one device is needed.", nameof(devices));

    /// <summary>
    /// Parses --devices: "all" (every CUDA device, or the CPU when there is none), or a comma-separated list of cpu,
    /// cuda, cuda:N (repeats allowed). <paramref name="cudaDevices"/> is the number of CUDA devices present.
    /// </summary>
    public static IReadOnlyList<string> ParseDevices(string text, int cudaDevices)
    {
        var t = (text ?? "").Trim().ToLowerInvariant();
        if (t == "all") return cudaDevices > 0 ? Enumerable.Range(0, cudaDevices).Select(i => $"cuda:{i}").ToList() : ["cpu"];
        var list = t.Split(',', StringSplitOptions.TrimEntries);
        foreach (var d in list)
        {
            if (d == "cpu") continue;
            if (d == "cuda" || (d.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(d[5..], NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                var index = d == "cuda" ? 0 : int.Parse(d[5..], CultureInfo.InvariantCulture);
                if (index >= cudaDevices)
                    throw new ArgumentException($"--devices {text}: {d} does not exist ({cudaDevices} CUDA device(s) available).");
                continue;
            }
            throw new ArgumentException($"--devices {text}: '{d}' is not a device; use all, or a list of cpu, cuda, cuda:N.");
        }
        return list;
    }
}

/// <summary>
/// What identifies a run's work, so shards and their merge can be checked to belong together: the resolved config, and
/// every component with its plugin, versions and options (secret options masked), and the BiasBench version.
/// </summary>
public static class RunFingerprint
{
    public static JsonObject Describe(ExperimentConfig config, IReadOnlyList<PlannedStage> plan) => new()
    {
        ["experiment"] = config.Experiment,
        ["config_sha256"] = ResultCache.Hash(Encoding.UTF8.GetBytes(config.ResolvedYaml)),
        ["biasbench_version"] = typeof(RunFingerprint).Assembly.GetName().Version?.ToString(),
        ["components"] = new JsonArray(plan.SelectMany(s => s.Components.Select(c => (JsonNode)new JsonObject
        {
            ["stage"] = s.Config.Id,
            ["name"] = c.Component.Descriptor.Name,
            ["version"] = c.Component.Descriptor.Version,
            ["plugin"] = c.Component.Plugin.Name,
            ["plugin_version"] = c.Component.Plugin.Version,
            ["plugin_build"] = c.Component.Plugin.BuildId, // part of every cache key: shards of different builds would not meet in the cache
            ["options"] = SecretOptions.MaskedJson(c.Options), // as in the manifest: secret values never appear
        })).ToArray()),
    };

    public static string Compute(ExperimentConfig config, IReadOnlyList<PlannedStage> plan) =>
        ResultCache.Hash(Encoding.UTF8.GetBytes(Describe(config, plan).ToJsonString()));

    /// <summary>The run folder name shards share when no --run-id is given: experiment and fingerprint.</summary>
    public static string DefaultRunId(ExperimentConfig config, string fingerprint) => $"{RunStore.SafeFileName(config.Experiment)}-{fingerprint[..12]}";
}

/// <summary>
/// What the shards recorded for each expensive component (keyed by stage id and the component's position in the
/// stage): its info (name, version, weights checksum, score semantics) and the items that failed, with their errors.
/// The merge rebuilds the tables from these and the shared cache without loading any model.
/// </summary>
public sealed class ShardRecords
{
    private readonly Dictionary<(string Stage, int Index), (JsonNode? Info, Dictionary<string, (string Error, JsonNode? Value)> Failures)> _components = new();

    public void Add(string stage, int index, JsonNode? info, IEnumerable<KeyValuePair<string, (string Error, JsonNode? Value)>> failures)
    {
        if (!_components.TryGetValue((stage, index), out var entry))
            _components[(stage, index)] = entry = (info?.DeepClone(), new Dictionary<string, (string, JsonNode?)>(StringComparer.Ordinal));
        foreach (var (key, failure) in failures) entry.Failures[key] = failure;
    }

    public bool TryGet(string stage, int index, out JsonNode? info, out IReadOnlyDictionary<string, (string Error, JsonNode? Value)> failures)
    {
        var found = _components.TryGetValue((stage, index), out var entry);
        info = entry.Info;
        failures = entry.Failures ?? new Dictionary<string, (string, JsonNode?)>();
        return found;
    }
}
