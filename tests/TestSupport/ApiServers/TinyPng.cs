using System.IO.Compression;
using System.Text;

namespace BiasBench.TestSupport.ApiServers;

/// <summary>A minimal PNG encoder (RGB, 8 bit, filter 0) so the local API server can return real, decodable images.</summary>
public static class TinyPng
{
    /// <summary>A width x height image whose colours follow from <paramref name="seed"/> (a smooth gradient, not noise).</summary>
    public static byte[] Gradient(int width, int height, int seed)
    {
        var rgb = new byte[width * height * 3];
        var r0 = (seed * 53) & 255; var g0 = (seed * 97) & 255; var b0 = (seed * 31) & 255;
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var i = (y * width + x) * 3;
                rgb[i] = (byte)((r0 + x * 4) & 255); rgb[i + 1] = (byte)((g0 + y * 4) & 255); rgb[i + 2] = (byte)((b0 + x + y) & 255);
            }
        return Encode(width, height, rgb);
    }

    public static byte[] Encode(int width, int height, byte[] rgb)
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        WriteBigEndian(ihdr, 0, width); WriteBigEndian(ihdr, 4, height);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        Chunk(png, "IHDR", ihdr);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Fastest, leaveOpen: true))
                for (var y = 0; y < height; y++)
                {
                    z.WriteByte(0);
                    z.Write(rgb, y * width * 3, width * 3);
                }
            Chunk(png, "IDAT", raw.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4]; WriteBigEndian(len, 0, data.Length); s.Write(len);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typeAndData);
        var crc = new byte[4]; WriteBigEndian(crc, 0, (int)Crc32(typeAndData)); s.Write(crc);
    }

    private static void WriteBigEndian(byte[] b, int offset, int v)
    {
        b[offset] = (byte)(v >> 24); b[offset + 1] = (byte)(v >> 16); b[offset + 2] = (byte)(v >> 8); b[offset + 3] = (byte)v;
    }

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return crc ^ 0xFFFFFFFFu;
    }
}
