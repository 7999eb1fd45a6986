using System.Security.Cryptography;
using System.Text;
using BiasBench.Torch.Weights;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>
/// SHA-256 of weight files for <see cref="BiasBench.Abstractions.RewardModelInfo.WeightsChecksum"/>. Hashing a multi-GB
/// checkpoint takes seconds, so digests are remembered in BiasBench's own cache folder (never beside the weights,
/// which may be read-only or shared), keyed by the file's full path, size and modification time: any change to the
/// file means a new key and a fresh hash.
/// </summary>
public static class WeightsChecksumCache
{
    /// <summary>Where digests are kept: $BIASBENCH_CHECKSUM_CACHE, else $XDG_CACHE_HOME/biasbench/checksums, else ~/.cache/biasbench/checksums.</summary>
    public static string Directory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("BIASBENCH_CHECKSUM_CACHE") is { Length: > 0 } explicitDir) return explicitDir;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
            return Path.Combine(root, "biasbench", "checksums");
        }
    }

    /// <summary>The file's lower-case hex SHA-256, from the cache when the file is unchanged.</summary>
    public static string FileSha256(string path)
    {
        var full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (!info.Exists) throw new FileNotFoundException($"Weight file '{full}' does not exist.", full);
        var entry = EntryPath(info);
        if (TryRead(entry) is { } cached) return cached;
        var digest = WeightFileChecksum.Sha256(full);
        TryWrite(entry, full, digest);
        return digest;
    }

    /// <summary>The cache entry for a file in its current state (path + size + mtime).</summary>
    public static string EntryPath(FileInfo file)
    {
        var key = $"{file.FullName}\n{file.Length}\n{file.LastWriteTimeUtc.Ticks}";
        return Path.Combine(Directory, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))) + ".sha256");
    }

    /// <summary>
    /// One digest for a model made of several files: the file's own SHA-256 when there is one file, otherwise the
    /// SHA-256 of the sorted "&lt;sha256&gt;  &lt;file name&gt;" lines, so the result does not depend on argument order.
    /// </summary>
    public static string Combined(IEnumerable<string> paths)
    {
        var entries = paths.Select(p => (Name: Path.GetFileName(p), Digest: FileSha256(p)))
            .OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        if (entries.Count == 0) throw new ArgumentException("No weight files to checksum.", nameof(paths));
        if (entries.Count == 1) return entries[0].Digest;
        var manifest = string.Concat(entries.Select(e => $"{e.Digest}  {e.Name}\n"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(manifest)));
    }

    private static string? TryRead(string entry)
    {
        try
        {
            if (!File.Exists(entry)) return null;
            var hex = File.ReadLines(entry).FirstOrDefault()?.Trim().Split(' ', 2)[0];
            return hex is { Length: 64 } && hex.All(Uri.IsHexDigit) ? hex.ToLowerInvariant() : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static void TryWrite(string entry, string weights, string digest)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(entry)!);
            // Write then rename so a concurrent reader never sees half a line. A cache that cannot be written only costs time.
            var temporary = entry + "." + Environment.ProcessId + ".tmp";
            File.WriteAllText(temporary, $"{digest}  {weights}\n");
            File.Move(temporary, entry, overwrite: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
