using System.Security.Cryptography;

namespace BiasBench.Torch.Weights;

/// <summary>SHA-256 of weight files for run manifests, streamed so multi-GB files never sit in memory.</summary>
public static class WeightFileChecksum
{
    private const int BufferSize = 1 << 20;

    /// <summary>Lower-case hex SHA-256 of the file's bytes.</summary>
    public static string Sha256(string path) => Sha256Async(path).GetAwaiter().GetResult();

    public static async Task<string> Sha256Async(string path, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Weight file '{path}' does not exist.", path);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize,
            FileOptions.Asynchronous | FileOptions.SequentialScan);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Throws when the file's SHA-256 differs from <paramref name="expectedHex"/> (case-insensitive).</summary>
    public static void Verify(string path, string expectedHex)
    {
        var actual = Sha256(path);
        if (!string.Equals(actual, expectedHex.Trim(), StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{path}: SHA-256 is {actual} but {expectedHex.Trim().ToLowerInvariant()} was expected (wrong or corrupted weights).");
    }
}
