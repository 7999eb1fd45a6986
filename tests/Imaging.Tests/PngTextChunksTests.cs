using BiasBench.Abstractions;
using BiasBench.Imaging;

namespace BiasBench.Imaging.Tests;

public sealed class PngTextChunksTests
{
    [Fact]
    public void CrcIsThePngSpecificationsCrc32()
    {
        // Every PNG ends with IEND and the CRC ae 42 60 82.
        Assert.Equal(0xAE426082u, PngTextChunks.Crc("IEND"u8));
    }

    [Fact]
    public void TextSurvivesEncodingAndPixelsAreLossless()
    {
        var pixels = new byte[5 * 4 * 3];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 37 % 256);
        var entries = new List<KeyValuePair<string, string>>
        {
            new("prompt", "a portrait photo of a attractive face"),
            new("negative_prompt", ""),
            new("seed", "42"),
            new("note", "ünïcødé, emoji 🙂 and CJK 顔"),
        };
        var png = PngEncoder.Encode(new RgbImage(5, 4, pixels), entries);

        Assert.Equal(entries, PngTextChunks.Read(png));
        var decoded = ImageDecoder.Decode(png, "test.png");
        Assert.Equal(pixels, decoded.Pixels);
    }

    [Fact]
    public void CorruptChunksAreRejectedNamingTheChunk()
    {
        var png = PngEncoder.Encode(new RgbImage(2, 2, new byte[12]), [new("prompt", "x")]);
        var at = IndexOf(png, "tEXt"u8.ToArray());
        png[at + 5] ^= 0xFF; // flip a byte of the keyword: the CRC no longer matches
        var e = Assert.Throws<InvalidDataException>(() => PngTextChunks.Read(png));
        Assert.Contains("tEXt", e.Message);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }
}
