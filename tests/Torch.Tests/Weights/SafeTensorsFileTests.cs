using System.Text;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Torch.Tests.Weights;

public class SafeTensorsFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("biasbench-st-");

    public SafeTensorsFileTests() => TorchBackend.EnsureInitialized();

    public void Dispose() => _dir.Delete(recursive: true);

    private string WriteRaw(string name, string headerJson, byte[] data, long? headerLengthOverride = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var path = Path.Combine(_dir.FullName, name);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes(headerLengthOverride ?? header.Length));
        f.Write(header);
        f.Write(data);
        return path;
    }

    [Fact]
    public void Fixture_model_entries_are_consistent_and_load()
    {
        var path = Fixtures.File("clip_hf/model.safetensors");
        using var file = SafeTensorsFile.Open(path);
        Assert.NotEmpty(file.Entries);
        var length = new FileInfo(path).Length;
        long total = 0;
        foreach (var (name, entry) in file.Entries)
        {
            Assert.Equal(name, entry.Name);
            total += entry.ByteLength;
            using var native = file.Load(name);
            Assert.Equal(SafeTensorsFile.ToScalarType(entry.DType), native.dtype);
            Assert.Equal(entry.Shape, native.shape);
            if (native.is_floating_point())
            {
                // fp16 -> fp32 is exact: converting back must give the stored bits.
                using var f32 = file.Load(name, ScalarType.Float32);
                Assert.Equal(ScalarType.Float32, f32.dtype);
                using var back = f32.to_type(native.dtype);
                Assert.True(native.bytes.SequenceEqual(back.bytes), $"'{name}' changed in the fp32 round trip");
                Assert.True(f32.isfinite().all().item<bool>(), $"'{name}' has non-finite values");
            }
        }
        Assert.True(total <= length);
    }

    [Fact]
    public void Small_files_round_trip_every_dtype()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["f64"] = tensor(new double[] { 1.5, -2.25 }),
            ["f32"] = arange(6, dtype: float32).reshape(2, 3) / 7,
            ["f16"] = tensor(new float[] { 0.1f, 65504f, -1e-4f }).to_type(ScalarType.Float16),
            ["bf16"] = tensor(new float[] { 3.14159f, -1e10f }).to_type(ScalarType.BFloat16),
            ["i64"] = tensor(new long[] { long.MinValue, 0, long.MaxValue }),
            ["i32"] = tensor(new int[] { -7, 7 }),
            ["i16"] = tensor(new short[] { -300, 300 }),
            ["i8"] = tensor(new sbyte[] { -128, 127 }),
            ["u8"] = tensor(new byte[] { 0, 255 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(42L),
            ["empty"] = zeros(0, 4),
            ["transposed"] = arange(12, dtype: float32).reshape(3, 4).t(),
        };
        var path = Path.Combine(_dir.FullName, "all.safetensors");
        SafeTensorsFile.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(tensors.Keys.Order(), file.Entries.Keys.Order());
        foreach (var (name, want) in tensors)
        {
            using var got = file.Load(name);
            Assert.Equal(want.dtype, got.dtype);
            Assert.Equal(want.shape, got.shape);
            Assert.True(want.equal(got).all().item<bool>(), $"'{name}' differs");
            Assert.Equal(SafeTensorsFile.ToSafeTensorsDType(want.dtype), file.Entries[name].DType);
        }
        // Save must leave the caller's tensors usable.
        Assert.Equal(5f / 7, tensors["f32"][1, 2].item<float>(), 6);
        var all = file.LoadAll(ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, all["f16"].dtype);
        Assert.Equal(ScalarType.Int64, all["i64"].dtype); // integers keep their dtype
        foreach (var t in all.Values.Concat(tensors.Values)) t.Dispose();
    }

    [Fact]
    public void Hand_written_file_is_read_as_laid_out()
    {
        var data = new byte[8 + 6];
        BitConverter.GetBytes(1.5f).CopyTo(data, 0);
        BitConverter.GetBytes(-2f).CopyTo(data, 4);
        data[8] = 1; data[9] = 0; data[10] = 1;
        var path = WriteRaw("hand.safetensors",
            """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"m":{"dtype":"BOOL","shape":[3],"data_offsets":[8,11]}}""", data);
        using var file = SafeTensorsFile.Open(path);
        using var w = file.Load("w");
        Assert.Equal(new[] { 1.5f, -2f }, w.data<float>().ToArray());
        using var m = file.Load("m");
        Assert.Equal(new[] { true, false, true }, m.data<bool>().ToArray());
        Assert.Contains("nope", Assert.Throws<KeyNotFoundException>(() => file.Load("nope")).Message);
    }

    public static TheoryData<string, string, string> BadHeaders() => new()
    {
        { "not json", "{not json", "malformed" },
        { "offsets past end", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}""", "inconsistent" },
        { "size vs shape", """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", "inconsistent" },
        { "unknown dtype", """{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}""", "unknown dtype" },
        { "three offsets", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}""", "data_offsets" },
        { "negative dim", """{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "shape" },
        { "missing dtype", """{"w":{"shape":[2],"data_offsets":[0,8]}}""", "malformed" },
        { "fractional offset", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}""", "malformed" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Bad_headers_give_clear_errors(string label, string header, string expectedText)
    {
        var path = WriteRaw($"bad-{label.Replace(' ', '_')}.safetensors", header, new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedText, e.Message);
    }

    [Fact]
    public void A_symlinked_file_is_read_through_the_link()
    {
        // The Hugging Face cache's snapshots/<commit>/model.safetensors is a relative symlink to blobs/<sha256>.
        var blobs = Directory.CreateDirectory(Path.Combine(_dir.FullName, "blobs"));
        var blob = WriteRaw(Path.Combine("blobs", "0123abcd"), """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""",
            BitConverter.GetBytes(1.5f).Concat(BitConverter.GetBytes(-2f)).ToArray());
        var snapshot = Directory.CreateDirectory(Path.Combine(_dir.FullName, "snapshots", "abc"));
        var link = Path.Combine(snapshot.FullName, "model.safetensors");
        File.CreateSymbolicLink(link, Path.Combine("..", "..", "blobs", Path.GetFileName(blob)));
        using var file = SafeTensorsFile.Open(link);
        using var w = file.Load("w");
        Assert.Equal([1.5f, -2f], w.data<float>().ToArray());
        Assert.True(blobs.Exists);
    }

    [Fact]
    public void Bad_lengths_give_clear_errors()
    {
        var tooShort = Path.Combine(_dir.FullName, "short.safetensors");
        File.WriteAllBytes(tooShort, [1, 2, 3]);
        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(tooShort)).Message);
        var hugeHeader = WriteRaw("huge.safetensors", "{}", [], headerLengthOverride: 1L << 40);
        Assert.Contains("header length", Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(hugeHeader)).Message);
        var truncated = Path.Combine(_dir.FullName, "truncated.safetensors");
        var whole = File.ReadAllBytes(WriteRaw("whole.safetensors", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[8]));
        File.WriteAllBytes(truncated, whole[..^3]);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(truncated));
        Assert.Contains("'w'", e.Message);
    }
}
