using System.Buffers.Binary;
using System.IO.Compression;
using BiasBench.Abstractions;

namespace BiasBench.PluginTemplate.Tests;

public class TestPatternGeneratorTests
{
    [Fact]
    public async Task The_same_prompt_and_seed_give_the_same_png_and_others_do_not()
    {
        using var generator = new TestPatternGenerator(new TestPatternOptions { Width = 16, Height = 8 });
        var images = await generator.GenerateAsync(
            [new GenerationRequest("a face", 1), new GenerationRequest("a face", 1), new GenerationRequest("a face", 2), new GenerationRequest("a cat", 1)],
            TestContext.Current.CancellationToken);

        Assert.All(images, i => Assert.True(i.IsSuccess, i.Error));
        Assert.Equal(images[0].Value!.EncodedPng, images[1].Value!.EncodedPng);
        Assert.NotEqual(images[0].Value!.EncodedPng, images[2].Value!.EncodedPng);
        Assert.NotEqual(images[0].Value!.EncodedPng, images[3].Value!.EncodedPng);
        Assert.Equal(("a face", 2L), (images[2].Value!.Provenance.Prompt, images[2].Value!.Provenance.Seed));
        Assert.Equal("16", images[0].Value!.Provenance.Settings["width"]);
    }

    [Fact]
    public void Without_noise_the_png_decodes_to_the_gradient_between_the_prompt_colours()
    {
        // 64-bit FNV-1a of "a" is 0xaf63dc4c8601ec8c: left colour = its low three bytes, right colour = the next three.
        Assert.Equal(0xaf63dc4c8601ec8cUL, TestPatternGenerator.Fnv1a("a"u8));
        var png = TestPatternGenerator.Generate("a", 7, new TestPatternOptions { Width = 3, Height = 2, Noise = 0 });

        var (width, height, pixels) = DecodeUnfilteredRgb(png);
        Assert.Equal((3, 2), (width, height));
        byte[] expectedRow = [0x8c, 0xec, 0x01, 0x89, 0x9c, 0x6e, 0x86, 0x4c, 0xdc]; // left, midpoint (110.5 rounds to even), right
        Assert.Equal(expectedRow, pixels.AsSpan(0, 9).ToArray());
        Assert.Equal(expectedRow, pixels.AsSpan(9, 9).ToArray());
    }

    [Fact]
    public void The_chunk_checksum_is_png_crc32()
    {
        Assert.Equal(0xAE426082u, Png.Crc32("IEND"u8, [])); // the CRC every PNG's IEND chunk carries
        Assert.Equal(BitwiseCrc32("IDATsome data"u8), Png.Crc32("IDAT"u8, "some data"u8));
    }

    /// <summary>CRC-32 bit by bit (reflected polynomial 0xEDB88320), independent of the encoder's table.</summary>
    private static uint BitwiseCrc32(ReadOnlySpan<byte> data)
    {
        var crc = ~0u;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>An independent reader for the encoder's output: checks each chunk's CRC, inflates IDAT, drops the filter bytes.</summary>
    private static (int Width, int Height, byte[] Pixels) DecodeUnfilteredRgb(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int width = 0, height = 0;
        using var idat = new MemoryStream();
        for (var i = 8; i < png.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(i));
            var type = System.Text.Encoding.ASCII.GetString(png, i + 4, 4);
            var data = png.AsSpan(i + 8, length);
            var crc = BitwiseCrc32(png.AsSpan(i + 4, 4 + length));
            Assert.Equal(crc, BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(i + 8 + length)));
            if (type == "IHDR") { width = BinaryPrimitives.ReadInt32BigEndian(data); height = BinaryPrimitives.ReadInt32BigEndian(data[4..]); }
            if (type == "IDAT") idat.Write(data);
            i += 12 + length;
        }
        idat.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionMode.Decompress)) zlib.CopyTo(inflated);
        var raw = inflated.ToArray();
        Assert.Equal(height * (1 + width * 3), raw.Length);
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            Assert.Equal(0, raw[y * (1 + width * 3)]); // filter type 0
            Array.Copy(raw, y * (1 + width * 3) + 1, pixels, y * width * 3, width * 3);
        }
        return (width, height, pixels);
    }
}
