namespace BiasBench.Hub;

/// <summary>One file to fetch: <c>{endpoint}/{RepoId}/resolve/{Revision}/{Filename}</c>.</summary>
public sealed record HubFileRequest(string RepoId, string Filename)
{
    /// <summary>Branch, tag or commit hash.</summary>
    public string Revision { get; init; } = HubOptions.DefaultRevision;

    /// <summary>When set, the file is written to <c>{LocalDirectory}/{Filename}</c> (huggingface_hub's local_dir mode) instead of a cache snapshot.</summary>
    public string? LocalDirectory { get; init; }

    /// <summary>Download again even when the cache has the file.</summary>
    public bool ForceDownload { get; init; }

    public override string ToString() => $"{RepoId}/{Filename}@{Revision}";
}

/// <summary>What the hub said about a file (HEAD of its resolve URL).</summary>
/// <param name="CommitHash">X-Repo-Commit: the commit the revision resolved to.</param>
/// <param name="Etag">X-Linked-Etag (LFS: sha256) or ETag (git blob sha1), unquoted.</param>
/// <param name="Size">X-Linked-Size or Content-Length; null when the hub sent neither.</param>
/// <param name="DownloadUri">Where to GET the bytes: the CDN location for LFS files, else the resolve URL.</param>
public sealed record HubFileMetadata(string CommitHash, string Etag, long? Size, Uri DownloadUri);

public enum HubFileSource
{
    /// <summary>Bytes were fetched in this call.</summary>
    Downloaded,
    /// <summary>The hub was asked for the current commit/etag and the cache already had that blob.</summary>
    Cache,
    /// <summary>Served from the cache without asking the hub (offline mode, or the hub was unreachable).</summary>
    OfflineCache,
}

/// <summary>A file ready on disk.</summary>
/// <param name="Path">The snapshot path (or the local-dir path) to open.</param>
/// <param name="BlobPath">The content-addressed blob, when the file lives in the cache.</param>
/// <param name="Verified">True when the bytes were hashed against the etag in this call.</param>
public sealed record HubFile(
    string RepoId, string Filename, string Revision, string CommitHash, string? Etag, long Size,
    string Path, string? BlobPath, HubFileSource Source, bool Verified);
