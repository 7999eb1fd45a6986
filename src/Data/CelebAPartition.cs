using System.Globalization;

namespace BiasBench.Data;

public enum DataSplit { Train = 0, Validation = 1, Test = 2 }

/// <summary>
/// CelebA's official split, <c>list_eval_partition.txt</c>: one line per image, <c>000001.jpg 0</c> with 0 = train,
/// 1 = validation, 2 = test. Keys are image ids (file name without extension), so they match the attribute table.
/// </summary>
public static class CelebAPartition
{
    public const string FileName = "list_eval_partition.txt";

    public static IReadOnlyDictionary<string, DataSplit> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var result = new Dictionary<string, DataSplit>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2)
                throw new DataFormatException(path, lineNo, 1, $"expected '<image file> <0|1|2>', found '{line}'.");
            if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var split) || split is < 0 or > 2)
                throw new DataFormatException(path, lineNo, raw.IndexOf(parts[1], StringComparison.Ordinal) + 1, $"partition must be 0 (train), 1 (validation) or 2 (test), found '{parts[1]}'.");
            var id = ImageIds.FromPath(parts[0]);
            if (!result.TryAdd(id, (DataSplit)split))
                throw new DataFormatException(path, lineNo, 1, $"image '{parts[0]}' is listed twice.");
        }
        if (result.Count == 0) throw new DataFormatException(path, 1, 1, "the partition file lists no images.");
        return result;
    }
}
