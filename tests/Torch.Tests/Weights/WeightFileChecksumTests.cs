using System.Security.Cryptography;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;

namespace BiasBench.Torch.Tests.Weights;

public class WeightFileChecksumTests
{
    [Fact]
    public void Known_vectors_and_multi_buffer_files_hash_correctly()
    {
        var dir = Directory.CreateTempSubdirectory("biasbench-sha-");
        try
        {
            var empty = Path.Combine(dir.FullName, "empty.bin");
            File.WriteAllBytes(empty, []);
            Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", WeightFileChecksum.Sha256(empty));

            var abc = Path.Combine(dir.FullName, "abc.bin");
            File.WriteAllText(abc, "abc");
            Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", WeightFileChecksum.Sha256(abc));

            // Larger than the 1 MiB stream buffer, with an odd tail, compared with a one-shot hash.
            var data = new byte[3 * (1 << 20) + 12345];
            new Random(7).NextBytes(data);
            var big = Path.Combine(dir.FullName, "big.bin");
            File.WriteAllBytes(big, data);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), WeightFileChecksum.Sha256(big));

            WeightFileChecksum.Verify(abc, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
            var e = Assert.Throws<InvalidDataException>(() => WeightFileChecksum.Verify(abc, new string('0', 64)));
            Assert.Contains(abc, e.Message);
            Assert.Throws<FileNotFoundException>(() => WeightFileChecksum.Sha256(Path.Combine(dir.FullName, "missing")));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public async Task Async_hash_of_a_fixture_matches_the_synchronous_one()
    {
        var path = Fixtures.File("torch_checkpoints/expected.safetensors");
        var expected = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
        Assert.Equal(expected, await WeightFileChecksum.Sha256Async(path, TestContext.Current.CancellationToken));
        Assert.Equal(expected, WeightFileChecksum.Sha256(path));
    }
}
