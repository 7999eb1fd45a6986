using System.Security.Cryptography;
using System.Text;

namespace BiasBench.Hub;

public enum EtagKind
{
    /// <summary>64 hex digits: an LFS file, the etag is the sha256 of the content.</summary>
    Sha256,
    /// <summary>40 hex digits: a plain git file, the etag is its git blob id (sha1 of "blob {len}\0" + content).</summary>
    GitBlobSha1,
    /// <summary>Anything else (no checksum can be derived from it).</summary>
    Unknown,
}

public static class Checksums
{
    public static EtagKind Classify(string etag) => etag.Length switch
    {
        64 when IsHex(etag) => EtagKind.Sha256,
        40 when IsHex(etag) => EtagKind.GitBlobSha1,
        _ => EtagKind.Unknown,
    };

    /// <summary>ETag header value as a file name: drops a weak-validator prefix and the quotes.</summary>
    public static string NormalizeEtag(string etag)
    {
        var s = etag.Trim();
        if (s.StartsWith("W/", StringComparison.OrdinalIgnoreCase)) s = s[2..];
        return s.Trim('"');
    }

    public static async Task<string> Sha256Async(string path, IProgress<long>? bytesRead = null, CancellationToken ct = default)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await HashFileAsync(path, hash, bytesRead, ct);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>git's object id of a file: sha1 over "blob {length}\0" followed by the content.</summary>
    public static async Task<string> GitBlobSha1Async(string path, IProgress<long>? bytesRead = null, CancellationToken ct = default)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        hash.AppendData(Encoding.ASCII.GetBytes($"blob {new FileInfo(path).Length}\0"));
        await HashFileAsync(path, hash, bytesRead, ct);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static string GitBlobSha1(ReadOnlySpan<byte> content)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        hash.AppendData(Encoding.ASCII.GetBytes($"blob {content.Length}\0"));
        hash.AppendData(content);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The digest of <paramref name="path"/> in the etag's own scheme, or null when the etag is not a checksum.</summary>
    public static Task<string>? DigestForEtagAsync(string path, string etag, IProgress<long>? bytesRead = null, CancellationToken ct = default) =>
        Classify(etag) switch
        {
            EtagKind.Sha256 => Sha256Async(path, bytesRead, ct),
            EtagKind.GitBlobSha1 => GitBlobSha1Async(path, bytesRead, ct),
            _ => null,
        };

    private static async Task HashFileAsync(string path, IncrementalHash hash, IProgress<long>? bytesRead, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var buffer = new byte[1 << 20];
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer, ct)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            total += n;
            bytesRead?.Report(total);
        }
    }

    private static bool IsHex(string s) => s.All(char.IsAsciiHexDigit);
}
