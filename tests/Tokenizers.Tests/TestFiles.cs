using System.IO.Compression;
using System.Text;
using System.Text.Json;
using BiasBench.TestSupport;

namespace BiasBench.Tokenizers.Tests;

internal static class TestFiles
{
    /// <summary>A tokenizer data file: the repository's samples/tokenizers copy, else the shared data folder.</summary>
    public static string Vocab(string name)
    {
        var sample = Path.Combine(Fixtures.RepoRoot, "samples", "tokenizers", name);
        return File.Exists(sample) ? sample : Fixtures.Data(Path.Combine("tokenizers", name));
    }

    public static string ClipGz => Vocab("clip_bpe_simple_vocab_16e6.txt.gz");
    public static string BertVocab => Vocab("bert-base-uncased-vocab.txt");

    private static readonly Lazy<ClipBpeTokenizer> ClipLazy = new(() => ClipBpeTokenizer.FromOpenClipVocabulary(ClipGz));
    public static ClipBpeTokenizer Clip => ClipLazy.Value;

    public static string Reference(string name) => Path.Combine(AppContext.BaseDirectory, "reference", name);

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "biasbench-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void WriteGz(string path, string content)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        var bytes = Encoding.UTF8.GetBytes(content);
        gz.Write(bytes);
    }

    public static string ReadGz(string path)
    {
        using var file = File.OpenRead(path);
        using var gz = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new StreamReader(gz, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>Minimal safetensors reader for I64 tensors (header JSON + little-endian data).</summary>
    public static (long[] Data, int[] Shape) ReadInt64Tensor(string path, string name)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        var headerLength = reader.ReadInt64();
        var header = JsonDocument.Parse(reader.ReadBytes(checked((int)headerLength)));
        if (!header.RootElement.TryGetProperty(name, out var info))
            throw new KeyNotFoundException($"tensor '{name}' not in '{path}'");
        Assert.Equal("I64", info.GetProperty("dtype").GetString());
        var shape = info.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var offsets = info.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        stream.Position = 8 + headerLength + offsets[0];
        var bytes = reader.ReadBytes(checked((int)(offsets[1] - offsets[0])));
        var data = new long[bytes.Length / 8];
        Buffer.BlockCopy(bytes, 0, data, 0, bytes.Length);
        return (data, shape);
    }
}
