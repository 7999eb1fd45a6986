using BiasBench.Abstractions;
using SkiaSharp;

namespace BiasBench.Imaging.Tests;

public sealed class DecoderTests
{
    private static readonly (byte, byte, byte) Red = (255, 0, 0), Green = (0, 255, 0), Blue = (0, 0, 255), White = (255, 255, 255);

    [Fact]
    public void Rgb8PngRoundTripsExactly()
    {
        var img = TestImages.Random(7, 5, 1);
        var png = TestImages.Png(7, 5, 2, 8, img.Pixels);
        var dec = ImageDecoder.Decode(png, "rgb.png");
        Assert.Equal(7, dec.Width);
        Assert.Equal(5, dec.Height);
        Assert.Equal(img.Pixels, dec.Pixels);
    }

    [Fact]
    public void GrayscalePngIsReplicatedToRgb()
    {
        var gray = new byte[] { 0, 17, 128, 200, 255, 3 };
        var dec = ImageDecoder.Decode(TestImages.Png(3, 2, 0, 8, gray), "gray.png");
        Assert.Equal(3, dec.Width);
        for (int i = 0; i < gray.Length; i++)
            Assert.Equal(new[] { gray[i], gray[i], gray[i] }, dec.Pixels.AsSpan(i * 3, 3).ToArray());
    }

    [Fact]
    public void RgbaPngDropsAlphaWithoutBlending()
    {
        // PIL's convert("RGB") keeps the stored colour whatever the alpha, including fully transparent pixels.
        byte[] rgba = [200, 100, 50, 0, 10, 20, 30, 128, 255, 255, 255, 255, 1, 2, 3, 7];
        var dec = ImageDecoder.Decode(TestImages.Png(2, 2, 6, 8, rgba), "rgba.png");
        Assert.Equal(new byte[] { 200, 100, 50, 10, 20, 30, 255, 255, 255, 1, 2, 3 }, dec.Pixels);
    }

    [Fact]
    public void GrayAlphaPngDropsAlpha()
    {
        byte[] la = [90, 0, 180, 255];
        var dec = ImageDecoder.Decode(TestImages.Png(2, 1, 4, 8, la), "la.png");
        Assert.Equal(new byte[] { 90, 90, 90, 180, 180, 180 }, dec.Pixels);
    }

    [Fact]
    public void SixteenBitRgbPngKeepsTheHighByte()
    {
        // PIL decodes 16-bit RGB PNGs with the "RGB;16B" unpacker, i.e. the most significant byte of each sample.
        ushort[] samples = [0x0000, 0x12FF, 0xAB00, 0x8080, 0xFFFF, 0x7F80, 0x00FF, 0x0100, 0xFE7F, 0x4000, 0x0180, 0xC0C0];
        var raw = new byte[samples.Length * 2];
        for (int i = 0; i < samples.Length; i++) { raw[2 * i] = (byte)(samples[i] >> 8); raw[2 * i + 1] = (byte)samples[i]; }
        var dec = ImageDecoder.Decode(TestImages.Png(2, 2, 2, 16, raw), "rgb16.png");
        Assert.Equal(samples.Select(s => (byte)(s >> 8)).ToArray(), dec.Pixels);
    }

    [Fact]
    public void SixteenBitGrayAndRgbaPngsBecome8BitRgb()
    {
        ushort[] gray = [0x0000, 0x8000, 0xFFFF, 0x3412];
        var raw = gray.SelectMany(s => new[] { (byte)(s >> 8), (byte)s }).ToArray();
        var dec = ImageDecoder.Decode(TestImages.Png(2, 2, 0, 16, raw), "gray16.png");
        for (int i = 0; i < gray.Length; i++)
            for (int c = 0; c < 3; c++)
                Assert.InRange(dec.Pixels[i * 3 + c], (gray[i] >> 8) - 1, (gray[i] >> 8) + 1);

        ushort[] rgba = [0xFFFF, 0x8000, 0x0000, 0x0000, 0x1234, 0x5678, 0x9ABC, 0xFFFF];
        raw = rgba.SelectMany(s => new[] { (byte)(s >> 8), (byte)s }).ToArray();
        dec = ImageDecoder.Decode(TestImages.Png(2, 1, 6, 16, raw), "rgba16.png");
        Assert.Equal(new byte[] { 0xFF, 0x80, 0x00, 0x12, 0x56, 0x9A }, dec.Pixels);
    }

    [Fact]
    public void BmpGifAndWebpDecode()
    {
        var img = TestImages.Random(5, 3, 2);
        Assert.Equal(img.Pixels, ImageDecoder.Decode(TestImages.Bmp(img), "x.bmp").Pixels);

        byte[] palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        var gif = ImageDecoder.Decode(TestImages.Gif2x2(palette), "x.gif");
        Assert.Equal(2, gif.Width);
        Assert.Equal(palette, gif.Pixels);

        var webp = TestImages.Encode(img, SKEncodedImageFormat.Webp, 100);
        var dw = ImageDecoder.Decode(webp, "x.webp");
        Assert.Equal(5, dw.Width);
        Assert.Equal(3, dw.Height);
        Assert.Equal(img.Pixels, dw.Pixels); // quality 100 = lossless WebP in Skia
    }

    [Fact]
    public void JpegDecodesCloseToSource()
    {
        var img = TestImages.Solid(64, 32, (x, y) => ((byte)(x * 4), (byte)(y * 8), 128));
        var dec = ImageDecoder.Decode(TestImages.Encode(img, SKEncodedImageFormat.Jpeg, 95), "smooth.jpg");
        Assert.Equal(64, dec.Width);
        Assert.Equal(32, dec.Height);
        double maxDiff = img.Pixels.Zip(dec.Pixels, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff < 16, $"JPEG round trip differs by {maxDiff}");
    }

    public static TheoryData<int, int, int, string> Orientations() => new()
    {
        // orientation, expected width, height, quadrants TL TR BL BR of [R G; B W] after ImageOps.exif_transpose
        { 1, 64, 32, "RGBW" },
        { 2, 64, 32, "GRWB" },
        { 3, 64, 32, "WBGR" },
        { 4, 64, 32, "BWRG" },
        { 5, 32, 64, "RBGW" },
        { 6, 32, 64, "BRWG" },
        { 7, 32, 64, "WGBR" },
        { 8, 32, 64, "GWRB" },
    };

    [Theory]
    [MemberData(nameof(Orientations))]
    public void ExifOrientationIsApplied(int orientation, int width, int height, string quadrants)
    {
        // 32x16 quadrants: aligned to JPEG's 16x16 chroma blocks so the colours stay clean.
        var img = TestImages.Solid(64, 32, (x, y) => (x < 32, y < 16) switch
        {
            (true, true) => Red, (false, true) => Green, (true, false) => Blue, _ => White,
        });
        var jpeg = TestImages.WithExifOrientation(TestImages.Encode(img, SKEncodedImageFormat.Jpeg, 95), orientation);
        var dec = ImageDecoder.Decode(jpeg, $"exif{orientation}.jpg");
        Assert.Equal(width, dec.Width);
        Assert.Equal(height, dec.Height);
        var points = new[] { (width / 4, height / 4), (3 * width / 4, height / 4), (width / 4, 3 * height / 4), (3 * width / 4, 3 * height / 4) };
        for (int q = 0; q < 4; q++)
        {
            var (x, y) = points[q];
            var (er, eg, eb) = quadrants[q] switch { 'R' => Red, 'G' => Green, 'B' => Blue, _ => White };
            int i = (y * width + x) * 3;
            Assert.True(Math.Abs(dec.Pixels[i] - er) < 40 && Math.Abs(dec.Pixels[i + 1] - eg) < 40 && Math.Abs(dec.Pixels[i + 2] - eb) < 40,
                $"orientation {orientation}, quadrant {q}: got ({dec.Pixels[i]},{dec.Pixels[i + 1]},{dec.Pixels[i + 2]}), expected {quadrants[q]}");
        }

        // Opting out reproduces plain PIL.Image.open (which ignores the tag).
        var raw = ImageDecoder.Decode(jpeg, "raw.jpg", new ImageDecodeLimits { ApplyExifOrientation = false });
        Assert.Equal(64, raw.Width);
        Assert.Equal(32, raw.Height);
    }

    [Fact]
    public void EmptyInputIsRejected()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(ReadOnlySpan<byte>.Empty, "empty.png"));
        Assert.Contains("empty.png", e.Message);
        Assert.Contains("empty", e.Reason);
    }

    [Fact]
    public void NonImageIsRejected()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode("this is not an image at all"u8, "notes.txt"));
        Assert.Contains("notes.txt", e.Message);
        Assert.Contains("not a recognised image format", e.Message);
    }

    [Fact]
    public void TruncatedPngAndJpegAreRejected()
    {
        var png = TestImages.Png(64, 64, 2, 8, TestImages.Random(64, 64, 3).Pixels);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(png.AsSpan(0, png.Length / 2), "half.png"));
        Assert.Contains("half.png", e.Message);
        Assert.Contains("truncated", e.Message);

        e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(png.AsSpan(0, 20), "header.png"));
        Assert.Contains("header.png", e.Message);
        Assert.Contains("truncated", e.Message);

        var jpeg = TestImages.Encode(TestImages.Random(64, 64, 4), SKEncodedImageFormat.Jpeg, 90);
        e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(jpeg.AsSpan(0, jpeg.Length / 2), "half.jpg"));
        Assert.Contains("half.jpg", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void DecompressionBombIsRejectedFromTheHeader()
    {
        // A valid PNG header claiming 50,000 x 50,000 (2.5 gigapixels) with almost no data behind it.
        var bomb = TestImages.PngWithIdat(50_000, 50_000, 2, 8, TestImages.Zlib(new byte[1000]));
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(bomb, "bomb.png"));
        Assert.Contains("bomb.png", e.Message);
        Assert.Contains("decompression bomb", e.Message);
        Assert.Contains("50000x50000", e.Message);

        // The limit is configurable and checked before decoding.
        var small = TestImages.Png(16, 16, 2, 8, new byte[16 * 16 * 3]);
        Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(small, "small.png", new ImageDecodeLimits { MaxPixels = 255 }));
        Assert.Equal(16, ImageDecoder.Decode(small, "small.png", new ImageDecodeLimits { MaxPixels = 256 }).Width);
    }

    [Fact]
    public void DecodeFileNamesTheMissingFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"biasbench-missing-{Guid.NewGuid():N}.png");
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeFile(path));
        Assert.Contains(path, e.Message);
    }
}

public sealed class ImageRefDecodeTests
{
    [Fact]
    public async Task DecodesImageRefsFromMemoryAndFile()
    {
        var img = TestImages.Random(4, 3, 5);
        var png = TestImages.Png(4, 3, 2, 8, img.Pixels);
        var fromMemory = await ImageDecoder.DecodeAsync(ImageRef.FromBytes("mem-1", png), ct: TestContext.Current.CancellationToken);
        Assert.Equal(img.Pixels, fromMemory.Pixels);

        var path = Path.Combine(Path.GetTempPath(), $"biasbench-imaging-{Guid.NewGuid():N}.png");
        await File.WriteAllBytesAsync(path, png, TestContext.Current.CancellationToken);
        try
        {
            var fromFile = await ImageDecoder.DecodeAsync(ImageRef.FromFile("file-1", path), ct: TestContext.Current.CancellationToken);
            Assert.Equal(img.Pixels, fromFile.Pixels);
        }
        finally { File.Delete(path); }

        var e = await Assert.ThrowsAsync<ImageDecodeException>(async () => await ImageDecoder.DecodeAsync(ImageRef.FromBytes("bad-id", "GIF89a"u8.ToArray()), ct: TestContext.Current.CancellationToken));
        Assert.Contains("bad-id", e.Message);
    }
}

public sealed class PaletteDecodeTests
{
    [Fact]
    public void PalettePngWithTransparencyKeepsPaletteColours()
    {
        // PIL: mode "P" + tRNS -> convert("RGB") looks the colours up in the palette, ignoring transparency.
        byte[] palette = [200, 100, 50, 10, 20, 30, 0, 255, 0];
        byte[] trns = [0, 128];
        var dec = ImageDecoder.Decode(TestImages.PalettePng(3, 1, palette, trns, [0, 1, 2]), "p.png");
        Assert.Equal(palette, dec.Pixels);
    }

    [Fact]
    public void GifWithTransparentIndexDecodes()
    {
        byte[] palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        var dec = ImageDecoder.Decode(TestImages.Gif2x2(palette, transparentIndex: 3), "t.gif");
        // Opaque pixels are exact. Known difference: Skia leaves GIF pixels with the transparent index black, whereas
        // PIL's convert("RGB") shows the palette colour stored at that index.
        Assert.Equal(palette.AsSpan(0, 9).ToArray(), dec.Pixels.AsSpan(0, 9).ToArray());
    }
}
