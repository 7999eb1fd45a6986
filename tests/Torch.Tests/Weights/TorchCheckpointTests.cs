using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;

namespace BiasBench.Torch.Tests.Weights;

public class TorchCheckpointTests
{
    private const string Folder = "torch_checkpoints";

    public TorchCheckpointTests() => TorchBackend.EnsureInitialized();

    /// <summary>The checkpoint files listed in cases.json ("files"); a placeholder row when the fixtures are absent.</summary>
    public static TheoryData<string> CheckpointFiles() => CasesList("files");
    public static TheoryData<string> MaliciousFiles() => CasesList("malicious");

    private static TheoryData<string> CasesList(string property)
    {
        var data = new TheoryData<string>();
        var root = Fixtures.Root;
        var cases = root is null ? null : Path.Combine(root, Folder, "cases.json");
        if (cases is null || !File.Exists(cases)) { data.Add("<fixtures missing>"); return data; }
        using var doc = JsonDocument.Parse(File.ReadAllText(cases));
        foreach (var f in doc.RootElement.GetProperty(property).EnumerateArray()) data.Add(f.GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(CheckpointFiles))]
    public void Every_tensor_matches_expected_safetensors_exactly(string file)
    {
        var path = Fixtures.File($"{Folder}/{file}");
        using var expectedFile = SafeTensorsFile.Open(Fixtures.File($"{Folder}/expected.safetensors"));
        var expected = expectedFile.LoadAll();
        var actual = TorchCheckpoint.LoadStateDict(path);
        try
        {
            Assert.NotEmpty(expected);
            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
            foreach (var (name, want) in expected)
            {
                var got = actual[name];
                Assert.True(want.dtype == got.dtype, $"{file}: '{name}' dtype {got.dtype}, expected {want.dtype}");
                Assert.True(want.shape.SequenceEqual(got.shape), $"{file}: '{name}' shape [{string.Join(",", got.shape)}], expected [{string.Join(",", want.shape)}]");
                Assert.True(got.is_contiguous(), $"{file}: '{name}' should be materialised contiguous");
                // Bit-exact: same bytes in logical (row-major) order, which also checks views' strides and offsets.
                Assert.True(want.bytes.SequenceEqual(got.bytes), $"{file}: '{name}' values differ from expected.safetensors");
                if (got.is_floating_point())
                {
                    using var diff = (got.to_type(torch.float64) - want.to_type(torch.float64)).abs().max();
                    Assert.Equal(0.0, diff.item<double>());
                }
            }
        }
        finally
        {
            foreach (var t in expected.Values.Concat(actual.Values)) t.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(CheckpointFiles))]
    public void Format_and_containers_are_reported(string file)
    {
        var path = Fixtures.File($"{Folder}/{file}");
        var isZip = File.ReadAllBytes(path).AsSpan(0, 4).SequenceEqual("PK\x03\x04"u8);
        using var checkpoint = TorchCheckpoint.Load(path);
        Assert.Equal(isZip ? TorchCheckpointFormat.Zip : TorchCheckpointFormat.Legacy, checkpoint.Format);
        var root = Assert.IsType<PickleDict>(checkpoint.Root);
        var stateDict = Assert.IsType<PickleDict>(TorchCheckpoint.UnwrapStateDict(root));
        Assert.All(stateDict, kv => Assert.IsType<torch.Tensor>(kv.Value));
        // A wrapper is a dict whose "state_dict" holds the tensors; unwrapping must have descended exactly then.
        Assert.Equal(root.ContainsKey("state_dict"), !ReferenceEquals(root, stateDict));
    }

    [Fact]
    public void OrderedDict_keeps_its_type_and_insertion_order()
    {
        // torch.save of an OrderedDict: the reader must keep the pickled key order (Python dicts are ordered).
        var files = CheckpointFiles().Select(r => r.Data).ToList();
        var path = Fixtures.File($"{Folder}/{files.First()}");
        using var checkpoint = TorchCheckpoint.Load(path);
        foreach (var f in files)
        {
            using var other = TorchCheckpoint.Load(Fixtures.File($"{Folder}/{f}"));
            var dict = Assert.IsType<PickleDict>(TorchCheckpoint.UnwrapStateDict(other.Root));
            var reference = Assert.IsType<PickleDict>(TorchCheckpoint.UnwrapStateDict(checkpoint.Root));
            Assert.Equal(reference.Keys.Cast<string>(), dict.Keys.Cast<string>());
        }
        Assert.Contains(files, f =>
        {
            using var c = TorchCheckpoint.Load(Fixtures.File($"{Folder}/{f}"));
            return c.Root is PickleDict { IsOrderedDict: true };
        });
    }

    [Theory]
    [MemberData(nameof(MaliciousFiles))]
    public void Malicious_checkpoint_is_refused_without_running_anything(string file)
    {
        var path = Fixtures.File($"{Folder}/{file}");
        // The fixture's payload would write this marker; record its state to prove nothing ran.
        const string marker = "/tmp/biasbench-pwned";
        var before = File.Exists(marker) ? File.GetLastWriteTimeUtc(marker) : (DateTime?)null;

        var e = Assert.Throws<ForbiddenPickleGlobalException>(() => TorchCheckpoint.Load(path));
        Assert.Contains(e.GlobalName, new[] { "posix.system", "os.system", "nt.system" });
        Assert.Contains(path, e.Message);
        Assert.Contains(e.GlobalName, e.Message);
        Assert.Equal(path, e.Origin.Split(" (")[0]);

        var after = File.Exists(marker) ? File.GetLastWriteTimeUtc(marker) : (DateTime?)null;
        Assert.Equal(before, after);
        // LoadStateDict goes through the same reader.
        Assert.Throws<ForbiddenPickleGlobalException>(() => TorchCheckpoint.LoadStateDict(path));
    }

    [Theory]
    [MemberData(nameof(CheckpointFiles))]
    public void Truncated_files_give_clear_errors(string file)
    {
        var source = Fixtures.File($"{Folder}/{file}");
        var bytes = File.ReadAllBytes(source);
        var dir = Directory.CreateTempSubdirectory("biasbench-ckpt-");
        try
        {
            // Cut the file at many points: every cut must fail with an InvalidDataException naming the file.
            var step = Math.Max(1, bytes.Length / 40);
            for (var length = 0; length < bytes.Length; length += step)
            {
                var path = Path.Combine(dir.FullName, $"cut{length}.pt");
                File.WriteAllBytes(path, bytes[..length]);
                var e = Assert.ThrowsAny<Exception>(() => { using var c = TorchCheckpoint.Load(path); });
                Assert.True(e is InvalidDataException, $"cut at {length}/{bytes.Length}: {e.GetType().Name}: {e.Message}");
                Assert.Contains(path, e.Message);
            }
        }
        finally { dir.Delete(recursive: true); }
    }

    [Theory]
    [MemberData(nameof(CheckpointFiles))]
    public void Corrupted_bytes_never_crash_or_hang(string file)
    {
        // Flipping single bytes may still give a loadable file (e.g. inside tensor data), but anything that fails
        // must fail with a clear InvalidDataException (or a refusal), never with an unrelated exception.
        var source = Fixtures.File($"{Folder}/{file}");
        var bytes = File.ReadAllBytes(source);
        var dir = Directory.CreateTempSubdirectory("biasbench-ckpt-");
        var random = new Random(1234);
        try
        {
            for (var trial = 0; trial < 200; trial++)
            {
                var copy = (byte[])bytes.Clone();
                var at = random.Next(copy.Length);
                copy[at] ^= (byte)(1 + random.Next(255));
                var path = Path.Combine(dir.FullName, $"flip{trial}.pt");
                File.WriteAllBytes(path, copy);
                try
                {
                    using var c = TorchCheckpoint.Load(path);
                }
                catch (Exception e) when (e is InvalidDataException or ForbiddenPickleGlobalException or NotSupportedException)
                {
                    Assert.Contains(path, e.Message);
                }
            }
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void Non_checkpoints_are_rejected_clearly()
    {
        var dir = Directory.CreateTempSubdirectory("biasbench-ckpt-");
        try
        {
            var empty = Path.Combine(dir.FullName, "empty.pt");
            File.WriteAllBytes(empty, []);
            Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(empty)).Message);

            var text = Path.Combine(dir.FullName, "text.bin");
            File.WriteAllText(text, "this is not a checkpoint at all");
            var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(text));
            Assert.Contains(text, e.Message);

            var zip = Path.Combine(dir.FullName, "other.zip");
            using (var archive = System.IO.Compression.ZipFile.Open(zip, System.IO.Compression.ZipArchiveMode.Create))
                archive.CreateEntry("folder/readme.txt");
            Assert.Contains("data.pkl", Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(zip)).Message);

            Assert.Throws<FileNotFoundException>(() => TorchCheckpoint.Load(Path.Combine(dir.FullName, "absent.pt")));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void A_fixture_set_without_what_a_test_needs_fails_when_fixtures_are_required()
    {
        // The path the zip test below takes when the fixture set has no zip checkpoint: a failure under
        // BIASBENCH_REQUIRE_FIXTURES=1, never a silent skip.
        var e = Assert.ThrowsAny<Exception>(() => Fixtures.Missing("no zip checkpoint", required: true));
        Assert.Contains("BIASBENCH_REQUIRE_FIXTURES=1", e.Message);
        Assert.IsType<Xunit.Sdk.FailException>(e);
    }

    [Fact]
    public void Zip_checkpoint_with_another_folder_name_and_big_endian_storages_loads()
    {
        // Rewrites the first zip fixture under a different top-level folder with byteorder "big" and every storage
        // byte-swapped: the reader must locate data.pkl anywhere and swap back to the same values.
        var files = CheckpointFiles().Select(r => r.Data).ToList();
        var source = files.Select(f => Fixtures.File($"{Folder}/{f}"))
            .FirstOrDefault(p => File.ReadAllBytes(p).AsSpan(0, 4).SequenceEqual("PK\x03\x04"u8));
        if (source is null) { Fixtures.Missing($"no zip checkpoint among {Folder}/cases.json's files"); return; }
        var reference = TorchCheckpoint.LoadStateDict(source);
        var dir = Directory.CreateTempSubdirectory("biasbench-ckpt-");
        try
        {
            // Element size of each storage record, from the reference tensors' dtypes via the pickle.
            using var original = System.IO.Compression.ZipFile.OpenRead(source);
            var elementSizes = StorageElementSizes(source);
            var target = Path.Combine(dir.FullName, "renamed.pt");
            using (var output = System.IO.Compression.ZipFile.Open(target, System.IO.Compression.ZipArchiveMode.Create))
            {
                foreach (var entry in original.Entries)
                {
                    var relative = entry.FullName[(entry.FullName.IndexOf('/') + 1)..];
                    using var input = entry.Open();
                    var data = new MemoryStream();
                    input.CopyTo(data);
                    var bytes = data.ToArray();
                    if (relative == "byteorder") bytes = "big"u8.ToArray();
                    if (relative.StartsWith("data/", StringComparison.Ordinal))
                    {
                        var size = elementSizes[relative["data/".Length..]];
                        for (var i = 0; i + size <= bytes.Length; i += size) Array.Reverse(bytes, i, size);
                    }
                    var newEntry = output.CreateEntry("some_other_name/" + relative, System.IO.Compression.CompressionLevel.NoCompression);
                    using var w = newEntry.Open();
                    w.Write(bytes);
                }
            }
            var swapped = TorchCheckpoint.LoadStateDict(target);
            try
            {
                Assert.Equal(reference.Keys.Order(), swapped.Keys.Order());
                foreach (var (name, t) in reference)
                    Assert.True(t.bytes.SequenceEqual(swapped[name].bytes), $"'{name}' differs after big-endian round trip");
            }
            finally { foreach (var t in swapped.Values) t.Dispose(); }
        }
        finally
        {
            foreach (var t in reference.Values) t.Dispose();
            dir.Delete(recursive: true);
        }
    }

    private static Dictionary<string, int> StorageElementSizes(string zipPath)
    {
        using var archive = System.IO.Compression.ZipFile.OpenRead(zipPath);
        var pkl = archive.Entries.First(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
        using var s = pkl.Open();
        var ms = new MemoryStream();
        s.CopyTo(ms);
        ms.Position = 0;
        var sizes = new Dictionary<string, int>();
        // Only the persistent ids matter here: tensors and dicts become placeholders.
        var allow = new PickleAllowList()
            .Add("torch._utils", "_rebuild_tensor_v2", _ => null)
            .Add("collections", "OrderedDict", _ => new PickleDict(isOrderedDict: true));
        foreach (var name in TorchPickleAllowList.StorageTypes.Keys) allow.Add("torch", name);
        new RestrictedUnpickler(ms, "probe", allow, id =>
        {
            var t = (PickleTuple)id!;
            var g = (PickleGlobal)t[1]!;
            sizes[(string)t[2]!] = TorchPickleAllowList.ElementSize(TorchPickleAllowList.StorageTypes[g.Name]);
            return null;
        }).Load();
        return sizes;
    }
}
