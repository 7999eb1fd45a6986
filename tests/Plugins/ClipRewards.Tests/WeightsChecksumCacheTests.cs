using System.Security.Cryptography;
using System.Text;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class WeightsChecksumCacheTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-sha-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void ComputesSha256AndCachesItInASidecar()
    {
        var path = Path.Combine(_temp, "weights.bin");
        var bytes = Encoding.ASCII.GetBytes("not really weights");
        File.WriteAllBytes(path, bytes);
        var expected = Convert.ToHexStringLower(SHA256.HashData(bytes));

        Assert.Equal(expected, WeightsChecksumCache.FileSha256(path));
        var sidecar = path + WeightsChecksumCache.SidecarExtension;
        Assert.Equal($"{expected}  weights.bin", File.ReadAllText(sidecar).Trim());

        // A fresh sidecar is trusted (this one is deliberately wrong to prove it is read)...
        var fake = new string('a', 64);
        File.WriteAllText(sidecar, $"{fake}  weights.bin\n");
        File.SetLastWriteTimeUtc(sidecar, File.GetLastWriteTimeUtc(path).AddSeconds(1));
        Assert.Equal(fake, WeightsChecksumCache.FileSha256(path));

        // ...but one older than the weights is recomputed and rewritten.
        File.SetLastWriteTimeUtc(sidecar, File.GetLastWriteTimeUtc(path).AddSeconds(-10));
        Assert.Equal(expected, WeightsChecksumCache.FileSha256(path));
        Assert.StartsWith(expected, File.ReadAllText(sidecar));
    }

    [Fact]
    public void CombinedDigestDoesNotDependOnOrder()
    {
        var a = Path.Combine(_temp, "a.safetensors");
        var b = Path.Combine(_temp, "b.pth");
        File.WriteAllText(a, "first");
        File.WriteAllText(b, "second");
        var ab = WeightsChecksumCache.Combined([a, b]);
        Assert.Equal(ab, WeightsChecksumCache.Combined([b, a]));
        Assert.NotEqual(WeightsChecksumCache.FileSha256(a), ab);
        Assert.Equal(WeightsChecksumCache.FileSha256(a), WeightsChecksumCache.Combined([a]));
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        var missing = Path.Combine(_temp, "nope.pt");
        var error = Assert.Throws<FileNotFoundException>(() => WeightsChecksumCache.FileSha256(missing));
        Assert.Contains(missing, error.Message);
    }
}
