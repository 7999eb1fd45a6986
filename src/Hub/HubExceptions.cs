namespace BiasBench.Hub;

/// <summary>A download failed for a reason the user can act on; the message says which file and what to do.</summary>
/// <remarks>An <see cref="IOException"/> so callers that already report I/O failures cleanly handle it too.</remarks>
public class HubException(string message, Exception? inner = null) : IOException(message, inner)
{
    public int? StatusCode { get; init; }
}

/// <summary>401/403: private or gated repository, missing or insufficient token.</summary>
public sealed class HubAuthenticationException(string message) : HubException(message);

public enum HubNotFoundKind { Repository, Revision, Entry }

/// <summary>404: the repository, revision or file does not exist (or is private and no token was sent).</summary>
public sealed class HubNotFoundException(HubNotFoundKind kind, string message) : HubException(message)
{
    public HubNotFoundKind Kind { get; } = kind;
}

/// <summary>Downloaded bytes do not hash to the hub's etag; the partial file has been deleted.</summary>
public sealed class HubChecksumException(string file, string expected, string actual, string algorithm)
    : HubException($"Checksum mismatch for {file}: expected {algorithm} {expected}, got {actual}. The partial download was deleted; run the command again.")
{
    public string File { get; } = file;
    public string Expected { get; } = expected;
    public string Actual { get; } = actual;
}

/// <summary>The file is not in the cache and the hub may not (offline mode) or could not be reached.</summary>
public sealed class HubOfflineException(string message, Exception? inner = null) : HubException(message, inner);

/// <summary>The hub could not be reached (connection refused, DNS, timeouts) after every retry.</summary>
public sealed class HubNetworkException(string message, Exception? inner = null) : HubException(message, inner);
