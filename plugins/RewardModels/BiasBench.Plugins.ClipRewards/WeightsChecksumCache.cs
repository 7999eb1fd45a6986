using System.Security.Cryptography;
using System.Text;
using BiasBench.Torch.Weights;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>
/// SHA-256 of weight files for <see cref="BiasBench.Abstractions.RewardModelInfo.WeightsChecksum"/>. Hashing a multi-GB
/// checkpoint takes seconds, so each file's digest is cached beside it as <c>&lt;file&gt;.sha256</c> (sha256sum format)
/// when the folder is writable; a sidecar older than its file is ignored and rewritten.
/// </summary>
public static class WeightsChecksumCache
{
    public const string SidecarExtension = ".sha256";

    /// <summary>The file's lower-case hex SHA-256, from a fresh sidecar when there is one.</summary>
    public static string FileSha256(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"Weight file '{full}' does not exist.", full);
        var sidecar = full + SidecarExtension;
        if (TryReadSidecar(sidecar, full) is { } cached) return cached;
        var digest = WeightFileChecksum.Sha256(full);
        TryWriteSidecar(sidecar, full, digest);
        return digest;
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

    private static string? TryReadSidecar(string sidecar, string weights)
    {
        try
        {
            if (!File.Exists(sidecar) || File.GetLastWriteTimeUtc(sidecar) < File.GetLastWriteTimeUtc(weights)) return null;
            var first = File.ReadLines(sidecar).FirstOrDefault()?.Trim();
            if (first is null) return null;
            var hex = first.Split(' ', 2)[0];
            return hex.Length == 64 && hex.All(Uri.IsHexDigit) ? hex.ToLowerInvariant() : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static void TryWriteSidecar(string sidecar, string weights, string digest)
    {
        try
        {
            // Write then rename so a concurrent reader never sees half a line.
            var temporary = sidecar + "." + Environment.ProcessId + ".tmp";
            File.WriteAllText(temporary, $"{digest}  {Path.GetFileName(weights)}\n");
            File.Move(temporary, sidecar, overwrite: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
