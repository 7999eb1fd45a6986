using System.IO.Compression;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Diffusion;

/// <summary>
/// The test-only torch-zip writer against a real <c>torch.save</c> file (../shared/fixtures/torch_checkpoints): written
/// from the same tensors in the same order, the restricted reader must give the same result for both files, and the
/// archive must hold the same records as torch's.
/// </summary>
public sealed class TorchZipCheckpointWriterTests
{
    private const string Folder = "torch_checkpoints";

    [Fact]
    public void WrittenFileReadsLikeTheTorchSavedOne()
    {
        TorchBackend.EnsureInitialized();
        using var cases = Fixtures.Json($"{Folder}/cases.json");
        var torchFile = cases.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetString()!)
            .First(f => f.EndsWith("_zip.pt", StringComparison.Ordinal) && !f.StartsWith("wrapped", StringComparison.Ordinal));
        var torchPath = Fixtures.File($"{Folder}/{torchFile}");
        var dir = Directory.CreateTempSubdirectory("biasbench-torchzip").FullName;
        try
        {
            using var reference = TorchCheckpoint.Load(torchPath);
            var stateDict = Assert.IsType<PickleDict>(reference.Root);
            var entries = stateDict.Select(kv => new KeyValuePair<string, Tensor>((string)kv.Key!, (Tensor)kv.Value!)).ToList();
            var written = Path.Combine(dir, Path.GetFileNameWithoutExtension(torchFile) + ".pt");
            TorchZipCheckpointWriter.Save(written, entries);

            using var readBack = TorchCheckpoint.Load(written);
            Assert.Equal(TorchCheckpointFormat.Zip, readBack.Format);
            var again = Assert.IsType<PickleDict>(readBack.Root);
            Assert.Equal(stateDict.Keys, again.Keys); // same names, same order
            foreach (var (key, value) in stateDict)
            {
                var want = (Tensor)value!;
                var got = Assert.IsType<Tensor>(again[key]);
                Assert.Equal(want.dtype, got.dtype);
                Assert.Equal(want.shape, got.shape);
                Assert.True(want.bytes.SequenceEqual(got.bytes), $"'{key}' differs after writing and reading back");
            }

            // The same records as torch.save writes (storages aside: torch shares one between views, the writer does not).
            static List<string> Records(string path)
            {
                using var zip = ZipFile.OpenRead(path);
                return zip.Entries.Select(e => e.FullName[(e.FullName.IndexOf('/') + 1)..]).Where(n => !n.StartsWith("data/", StringComparison.Ordinal)).ToList();
            }
            Assert.Equal(Records(torchPath), Records(written));
            using var torchZip = ZipFile.OpenRead(torchPath);
            using var ourZip = ZipFile.OpenRead(written);
            foreach (var record in new[] { "byteorder", "version", ".format_version", ".storage_alignment" })
            {
                var theirs = torchZip.Entries.Single(e => e.FullName.EndsWith("/" + record, StringComparison.Ordinal));
                var ours = ourZip.Entries.Single(e => e.FullName.EndsWith("/" + record, StringComparison.Ordinal));
                Assert.Equal(Read(theirs), Read(ours));
            }
            Assert.All(ourZip.Entries, e => Assert.Equal(e.Length, e.CompressedLength)); // stored, like torch.save
        }
        finally { Directory.Delete(dir, true); }

        static byte[] Read(ZipArchiveEntry entry)
        {
            using var stream = entry.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
    }
}
