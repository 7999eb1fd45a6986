using System.Security.Cryptography;
using System.Text;

namespace BiasBench.Plugins.ClipRewards.Tests;

public sealed class WeightsChecksumCacheTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-sha-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void ComputesSha256AndCachesItOutsideTheWeightsFolder()
    {
        var path = Path.Combine(_temp, "weights.bin");
        var bytes = Encoding.ASCII.GetBytes("not really weights");
        File.WriteAllBytes(path, bytes);
        var expected = Convert.ToHexStringLower(SHA256.HashData(bytes));

        Assert.Equal(expected, WeightsChecksumCache.FileSha256(path));
        Assert.Equal([path], Directory.GetFiles(_temp)); // nothing written beside the weights
        var entry = WeightsChecksumCache.EntryPath(new FileInfo(path));
        Assert.StartsWith(expected, File.ReadAllText(entry));

        // A cached entry is trusted for the unchanged file (this one is deliberately wrong to prove it is read)...
        var fake = new string('a', 64);
        File.WriteAllText(entry, $"{fake}  {path}\n");
        Assert.Equal(fake, WeightsChecksumCache.FileSha256(path));

        // ...but changing the file (size or time) gives a new key and a fresh hash.
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("other weights!"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), WeightsChecksumCache.FileSha256(path));
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
