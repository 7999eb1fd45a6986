using System.Text.RegularExpressions;

namespace BiasBench.Hub;

/// <summary>
/// huggingface_hub's cache layout, so files fetched here are found by Python (and the reverse):
/// <c>{cache}/models--{org}--{name}/blobs/{etag}</c> holds the content, <c>snapshots/{commit}/{path}</c> is a relative
/// symlink to the blob, <c>refs/{revision}</c> holds the commit a branch or tag resolved to.
/// </summary>
public sealed partial class HubCache(string directory)
{
    public string Directory { get; } = Path.GetFullPath(directory);

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHashRegex();

    // org/name or name; the hub's own rule: letters, digits, '-', '_', '.', no '--' or '..', no leading/trailing '-'/'.'.
    [GeneratedRegex(@"^(?:[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")]
    private static partial Regex RepoIdRegex();

    public static bool IsCommitHash(string revision) => CommitHashRegex().IsMatch(revision);

    public static bool IsValidRepoId(string repoId) =>
        RepoIdRegex().IsMatch(repoId) && !repoId.Contains("--") && !repoId.Contains("..") && !repoId.EndsWith('.') && !repoId.EndsWith('-');

    /// <summary>"org/name" -> "models--org--name".</summary>
    public static string RepoFolderName(string repoId) => "models--" + repoId.Replace("/", "--");

    public string RepoDirectory(string repoId) => Path.Combine(Directory, RepoFolderName(repoId));
    public string BlobPath(string repoId, string etag) => Path.Combine(RepoDirectory(repoId), "blobs", etag);
    public string IncompletePath(string repoId, string etag) => BlobPath(repoId, etag) + ".incomplete";
    public string SnapshotDirectory(string repoId, string commit) => Path.Combine(RepoDirectory(repoId), "snapshots", commit);
    public string SnapshotPath(string repoId, string commit, string filename) => Path.Combine(SnapshotDirectory(repoId, commit), ToLocalPath(filename));
    public string RefPath(string repoId, string revision) => Path.Combine(RepoDirectory(repoId), "refs", ToLocalPath(revision));
    /// <summary>Marker huggingface_hub writes when a file is known not to exist at a commit.</summary>
    public string NoExistPath(string repoId, string commit, string filename) => Path.Combine(RepoDirectory(repoId), ".no_exist", commit, ToLocalPath(filename));
    public string LockPath(string repoId, string etag) => Path.Combine(Directory, ".locks", RepoFolderName(repoId), etag + ".lock");

    /// <summary>The commit a revision points to in the cache: the revision itself for a commit hash, else refs/{revision}.</summary>
    public string? ResolveCommit(string repoId, string revision)
    {
        if (IsCommitHash(revision)) return revision;
        var refPath = RefPath(repoId, revision);
        if (!File.Exists(refPath)) return null;
        var commit = File.ReadAllText(refPath).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    /// <summary>The cached snapshot path of a file, or null when it (or its blob, for a dangling link) is missing.</summary>
    public string? TryGetCachedFile(string repoId, string filename, string revision = HubOptions.DefaultRevision)
    {
        var commit = ResolveCommit(repoId, revision);
        if (commit is null) return null;
        var path = SnapshotPath(repoId, commit, filename);
        return File.Exists(path) ? path : null; // File.Exists follows the link: false for a dangling one
    }

    public void WriteRef(string repoId, string revision, string commit)
    {
        if (revision == commit) return; // huggingface_hub records branches and tags only
        var path = RefPath(repoId, revision);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path) && File.ReadAllText(path).Trim() == commit) return;
        var tmp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllText(tmp, commit);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Points snapshots/{commit}/{file} at the blob with a relative symlink; copies when links are refused.</summary>
    /// <returns>True when a symlink was made, false when the blob was copied.</returns>
    public bool LinkSnapshot(string blobPath, string snapshotPath, bool allowSymlink = true)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(snapshotPath)!);
        if (File.Exists(snapshotPath) || IsSymlink(snapshotPath)) File.Delete(snapshotPath);
        if (allowSymlink)
        {
            // Relative, so the cache keeps working when moved or mounted elsewhere (as huggingface_hub does).
            var target = Path.GetRelativePath(Path.GetDirectoryName(snapshotPath)!, blobPath);
            try
            {
                File.CreateSymbolicLink(snapshotPath, target);
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException) { }
        }
        File.Copy(blobPath, snapshotPath, overwrite: true);
        return false;
    }

    private static bool IsSymlink(string path)
    {
        try { return new FileInfo(path).LinkTarget is not null; }
        catch (IOException) { return false; }
    }

    /// <summary>A repository path ("sub/dir/file.bin") as a relative local path; rejects escapes from the snapshot folder.</summary>
    public static string ToLocalPath(string repoPath)
    {
        var parts = repoPath.Split('/');
        if (repoPath.Length == 0 || repoPath.StartsWith('/') || parts.Any(p => p is "" or "." or ".." || p.Contains('\\') || p.Contains('\0')))
            throw new ArgumentException($"Invalid path in repository: '{repoPath}'.", nameof(repoPath));
        return Path.Combine(parts);
    }
}
