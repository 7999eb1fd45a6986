namespace BiasBench.Hub;

public sealed record LocalFileInfo(string RelativePath, string FullPath, long Size, string Sha256);

/// <summary>Describes model files already on disk (a file or a folder) without any network access.</summary>
public static class LocalModelFiles
{
    /// <summary>Every file under <paramref name="path"/> (or the file itself) with its size and sha256, sorted by path.
    /// Symlinked snapshot entries are followed; hidden folders such as <c>.cache</c> are skipped.</summary>
    public static async Task<IReadOnlyList<LocalFileInfo>> DescribeAsync(string path, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full))
            return [new LocalFileInfo(Path.GetFileName(full), full, Length(full), await Checksums.Sha256Async(full, null, ct))];
        if (!Directory.Exists(full)) throw new FileNotFoundException($"No file or folder at '{path}'.", path);

        var files = Directory.EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true })
            .Where(f => !Path.GetRelativePath(full, f).Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.')))
            .Order(StringComparer.Ordinal);
        var result = new List<LocalFileInfo>();
        foreach (var f in files)
        {
            if (!File.Exists(f)) continue; // dangling link
            result.Add(new LocalFileInfo(Path.GetRelativePath(full, f).Replace(Path.DirectorySeparatorChar, '/'), f, Length(f), await Checksums.Sha256Async(f, null, ct)));
        }
        return result;
    }

    // FileInfo.Length of a symlink is the link's size; the content's size is what matters here.
    private static long Length(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? info.Length : ((FileInfo?)info.ResolveLinkTarget(returnFinalTarget: true))?.Length ?? info.Length;
    }
}
