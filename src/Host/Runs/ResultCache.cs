using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BiasBench.Host.Runs;

/// <summary>
/// Append-only, content-addressed store of finished per-item results (a score, a judgement, a generated image's
/// record). Each result is one JSON line written and flushed as soon as the item finishes, so a run killed half way
/// loses nothing; a re-run reads the file back and only computes what is missing. A torn last line (killed mid-write)
/// is dropped and the file repaired. Failures are never cached, so a transient error is retried on the next run.
/// Several processes (the shards of a run) may read and append to the same file at once (<see cref="SharedAppendFile"/>).
/// </summary>
public sealed class ResultCache : IDisposable
{
    private readonly Dictionary<string, JsonNode?> _entries = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly SharedAppendFile _file;

    public ResultCache(string file)
    {
        File = file;
        // Shards of one run append to the same file from several processes (see SharedAppendFile): reads and appends
        // happen under a file lock. Unreadable lines (a torn line of a killed run) are dropped from the file once, under
        // that lock and in place, so the next run neither warns again nor carries the torn line forever.
        _file = SharedAppendFile.Open(file);
        CorruptLines = _file.ReadRepairing(line =>
        {
            try
            {
                var node = JsonNode.Parse(line);
                if (node?["k"]?.GetValue<string>() is not { } key) return false;
                _entries[key] = node["v"]?.DeepClone();
                return true;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException) { return false; }
        });
    }

    public string File { get; }
    public int Count { get { lock (_gate) return _entries.Count; } }
    /// <summary>Lines that could not be read back (e.g. the torn last line of a killed run); they were removed from the file.</summary>
    public int CorruptLines { get; }

    public bool TryGet(string key, out JsonNode? value)
    {
        lock (_gate) return _entries.TryGetValue(key, out value);
    }

    public void Put(string key, JsonNode? value)
    {
        // Cached values can carry plugin text (notes, rationales): never a secret.
        var line = new JsonObject { ["k"] = key, ["v"] = Configuration.SecretValues.Redact(value) }.ToJsonString();
        lock (_gate)
        {
            _file.AppendLine(line);
            _entries[key] = value;
        }
    }

    public void Dispose() => _file.Dispose();

    /// <summary>SHA-256 hex of several parts, each length-prefixed so ("ab","c") and ("a","bc") differ.</summary>
    public static string Key(params string?[] parts)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in parts)
        {
            var bytes = Encoding.UTF8.GetBytes(p ?? "\u0000null");
            sha.AppendData(BitConverter.GetBytes(bytes.Length));
            sha.AppendData(bytes);
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    public static string Hash(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    /// <summary>Canonical JSON of an options object (sorted keys). Cache keys use <see cref="Configuration.SecretOptions.CacheKeyJson"/>
    /// instead, which leaves out [Secret] options.</summary>
    public static string CanonicalJson(object? options)
    {
        var node = JsonSerializer.SerializeToNode(options, options?.GetType() ?? typeof(object), new JsonSerializerOptions { IncludeFields = false });
        return Canonical(node)?.ToJsonString() ?? "null";
    }

    /// <summary>A copy of the JSON tree with every object's keys sorted (ordinal).</summary>
    public static JsonNode? CanonicalNode(JsonNode? node) => Canonical(node);

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, Canonical(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(Canonical).ToArray()),
        _ => node?.DeepClone(),
    };
}
