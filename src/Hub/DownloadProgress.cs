namespace BiasBench.Hub;

public enum DownloadStage
{
    /// <summary>Asking the hub for the file's commit, etag and size.</summary>
    Resolving,
    /// <summary>Bytes are arriving; <see cref="DownloadProgress.BytesDone"/> counts resumed bytes too.</summary>
    Downloading,
    /// <summary>The connection failed; waiting before a retry (<see cref="DownloadProgress.Message"/> says why).</summary>
    Retrying,
    /// <summary>Hashing the finished file against the etag.</summary>
    Verifying,
    /// <summary>The file was already in the cache; nothing was downloaded.</summary>
    Cached,
    Completed,
}

/// <summary>One progress report for one file. Reports arrive on the downloading thread.</summary>
public readonly record struct DownloadProgress(
    string RepoId, string Filename, DownloadStage Stage, long BytesDone, long? TotalBytes, string? Message = null)
{
    public double? Fraction => TotalBytes is > 0 ? Math.Clamp((double)BytesDone / TotalBytes.Value, 0, 1) : null;
}
