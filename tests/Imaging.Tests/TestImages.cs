using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using BiasBench.Abstractions;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Weights;
using SkiaSharp;
using TorchSharp;

namespace BiasBench.Imaging.Tests;

/// <summary>Hand-built encoded images (PNG chunks + zlib, BMP, GIF, EXIF APP1) and fixture helpers.</summary>
internal static class TestImages
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    private static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    private static void Chunk(Stream s, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var typed = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(type, typed);
        data.CopyTo(typed.AsSpan(4));
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(len, Crc(typed));
        s.Write(len);
    }

    /// <summary>A PNG from raw samples: colorType 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA; bitDepth 8 or 16 (big-endian samples).</summary>
    public static byte[] Png(int width, int height, int colorType, int bitDepth, byte[] rawSamples)
    {
        int channels = colorType switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => throw new ArgumentException("colorType") };
        int rowBytes = width * channels * bitDepth / 8;
        if (rawSamples.Length != rowBytes * height) throw new ArgumentException("sample count");
        var filtered = new byte[(rowBytes + 1) * height];
        for (int y = 0; y < height; y++) Array.Copy(rawSamples, y * rowBytes, filtered, y * (rowBytes + 1) + 1, rowBytes);
        return PngWithIdat(width, height, colorType, bitDepth, Zlib(filtered));
    }

    /// <summary>An 8-bit paletted PNG (colour type 3) with an optional tRNS chunk.</summary>
    public static byte[] PalettePng(int width, int height, byte[] paletteRgb, byte[]? trns, byte[] indices)
    {
        var filtered = new byte[(width + 1) * height];
        for (int y = 0; y < height; y++) Array.Copy(indices, y * width, filtered, y * (width + 1) + 1, width);
        var extra = new List<(string, byte[])> { ("PLTE", paletteRgb) };
        if (trns is not null) extra.Add(("tRNS", trns));
        return PngWithIdat(width, height, 3, 8, Zlib(filtered), extra);
    }

    public static byte[] PngWithIdat(int width, int height, int colorType, int bitDepth, byte[] idat, List<(string Type, byte[] Data)>? beforeIdat = null)
    {
        using var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth; ihdr[9] = (byte)colorType;
        Chunk(ms, "IHDR", ihdr);
        foreach (var (type, data) in beforeIdat ?? []) Chunk(ms, type, data);
        Chunk(ms, "IDAT", idat);
        Chunk(ms, "IEND", ReadOnlySpan<byte>.Empty);
        return ms.ToArray();
    }

    public static byte[] Zlib(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
        return ms.ToArray();
    }

    /// <summary>24-bit bottom-up BMP from RGB pixels.</summary>
    public static byte[] Bmp(RgbImage img)
    {
        int rowBytes = (img.Width * 3 + 3) & ~3;
        int dataSize = rowBytes * img.Height;
        var b = new byte[54 + dataSize];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), b.Length);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), img.Width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), img.Height);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(34), dataSize);
        for (int y = 0; y < img.Height; y++)
        {
            int row = 54 + (img.Height - 1 - y) * rowBytes;
            for (int x = 0; x < img.Width; x++)
            {
                int s = (y * img.Width + x) * 3;
                b[row + x * 3] = img.Pixels[s + 2];
                b[row + x * 3 + 1] = img.Pixels[s + 1];
                b[row + x * 3 + 2] = img.Pixels[s];
            }
        }
        return b;
    }

    /// <summary>
    /// A 2x2 GIF with a 4-colour global table. The LZW stream re-sends CLEAR every two codes so every code stays 3 bits.
    /// </summary>
    public static byte[] Gif2x2(byte[] palette12, int transparentIndex = -1)
    {
        using var ms = new MemoryStream();
        ms.Write("GIF89a"u8);
        ms.Write([2, 0, 2, 0, 0b1000_0001, 0, 0]); // 2x2, global table of 2^(1+1) = 4 entries
        ms.Write(palette12);
        if (transparentIndex >= 0) ms.Write([0x21, 0xF9, 4, 0b0000_0001, 0, 0, (byte)transparentIndex, 0]); // graphic control extension
        ms.Write([0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0]); // image descriptor
        ms.WriteByte(2); // LZW minimum code size
        int[] codes = [4, 0, 1, 4, 2, 3, 5];
        var packed = new List<byte>();
        int acc = 0, nbits = 0;
        foreach (var c in codes)
        {
            acc |= c << nbits; nbits += 3;
            while (nbits >= 8) { packed.Add((byte)(acc & 0xFF)); acc >>= 8; nbits -= 8; }
        }
        if (nbits > 0) packed.Add((byte)acc);
        ms.WriteByte((byte)packed.Count);
        ms.Write(packed.ToArray());
        ms.WriteByte(0);
        ms.WriteByte(0x3B);
        return ms.ToArray();
    }

    /// <summary>Inserts an EXIF APP1 segment carrying only an Orientation tag right after the JPEG SOI marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, int orientation)
    {
        if (jpeg[0] != 0xFF || jpeg[1] != 0xD8) throw new ArgumentException("not a JPEG");
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // big-endian TIFF header, IFD0 at 8
            0x00, 0x01,                                             // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,         // tag 0x0112 Orientation, SHORT, count 1
            0x00, (byte)orientation, 0x00, 0x00,                    // value (left-justified)
            0x00, 0x00, 0x00, 0x00,                                 // no next IFD
        ];
        var payload = new byte[6 + tiff.Length];
        "Exif\0\0"u8.CopyTo(payload);
        tiff.CopyTo(payload, 6);
        var seg = new byte[4 + payload.Length];
        seg[0] = 0xFF; seg[1] = 0xE1;
        BinaryPrimitives.WriteUInt16BigEndian(seg.AsSpan(2), (ushort)(payload.Length + 2));
        payload.CopyTo(seg, 4);
        return [.. jpeg.AsSpan(0, 2), .. seg, .. jpeg.AsSpan(2)];
    }

    /// <summary>Encodes RGB pixels with SkiaSharp.</summary>
    public static byte[] Encode(RgbImage img, SKEncodedImageFormat format, int quality)
    {
        var info = new SKImageInfo(img.Width, img.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bmp = new SKBitmap(info);
        var px = bmp.GetPixelSpan();
        for (int i = 0; i < img.Width * img.Height; i++)
        {
            px[i * 4] = img.Pixels[i * 3]; px[i * 4 + 1] = img.Pixels[i * 3 + 1]; px[i * 4 + 2] = img.Pixels[i * 3 + 2]; px[i * 4 + 3] = 255;
        }
        using var data = bmp.Encode(format, quality) ?? throw new InvalidOperationException($"SkiaSharp cannot encode {format}.");
        return data.ToArray();
    }

    public static RgbImage Solid(int w, int h, Func<int, int, (byte R, byte G, byte B)> f)
    {
        var p = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b) = f(x, y);
                int i = (y * w + x) * 3;
                p[i] = r; p[i + 1] = g; p[i + 2] = b;
            }
        return new RgbImage(w, h, p);
    }

    public static RgbImage Random(int w, int h, int seed)
    {
        var rng = new Random(seed);
        var p = new byte[w * h * 3];
        rng.NextBytes(p);
        return new RgbImage(w, h, p);
    }

    /// <summary>Loads one tensor of a safetensors fixture as a flat array plus its shape.</summary>
    public static (T[] Data, long[] Shape) LoadFixtureTensor<T>(string safetensorsPath, string name) where T : unmanaged
    {
        TorchBackend.EnsureInitialized();
        using var f = SafeTensorsFile.Open(safetensorsPath);
        using var t = f.Load(name);
        return (t.data<T>().ToArray(), t.shape);
    }

    public static (double Max, int Index) MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"length {a.Length} vs {b.Length}");
        double max = 0; int at = -1;
        for (int i = 0; i < a.Length; i++)
        {
            double d = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(d) || d > max) { max = double.IsNaN(d) ? double.PositiveInfinity : d; at = i; }
        }
        return (max, at);
    }
}
