using System.Text.Json;

namespace BiasBench.Torch.Weights;

/// <summary>
/// The index of a sharded Hugging Face / diffusers checkpoint (<c>NAME.safetensors.index[.VARIANT].json</c>): its
/// <c>weight_map</c> names the shard holding each tensor.
/// </summary>
public static class ShardedCheckpointIndex
{
    /// <summary>Whether <paramref name="path"/> names an index rather than a weights file.</summary>
    public static bool IsIndex(string path) => path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    /// <summary>The distinct shard files of the index, as full paths beside it, in the order the map first names them.
    /// Only safetensors shards are accepted (a pickled shard would need the restricted reader per file).</summary>
    public static IReadOnlyList<string> ShardFiles(string indexPath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        List<string> shards;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath}: no \"weight_map\" object.");
            shards = map.EnumerateObject().Select(p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new InvalidDataException($"{indexPath}: weight_map['{p.Name}'] is not a file name."))
                .Distinct(StringComparer.Ordinal).ToList();
        }
        catch (JsonException e) { throw new InvalidDataException($"{indexPath}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
        if (shards.Count == 0) throw new InvalidDataException($"{indexPath}: the weight_map is empty.");
        foreach (var shard in shards)
        {
            if (!shard.EndsWith(".safetensors", StringComparison.Ordinal))
                throw new NotSupportedException($"{indexPath}: only sharded .safetensors checkpoints are supported (shard '{shard}').");
            // A shard name is a file beside the index, never a path elsewhere.
            if (shard != Path.GetFileName(shard))
                throw new InvalidDataException($"{indexPath}: shard '{shard}' is not a file name beside the index.");
            if (!File.Exists(Path.Combine(folder, shard)))
                throw new FileNotFoundException($"{indexPath} names the shard '{shard}', which does not exist.", Path.Combine(folder, shard));
        }
        return shards.Select(s => Path.Combine(folder, s)).ToList();
    }
}
