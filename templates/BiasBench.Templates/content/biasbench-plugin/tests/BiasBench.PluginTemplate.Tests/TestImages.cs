using System.Buffers.Binary;

namespace BiasBench.PluginTemplate.Tests;

/// <summary>Byte-exact PNG and JPEG headers of a chosen size, padded to a chosen file length.</summary>
public static class TestImages
{
    public static byte[] Png(int width, int height, int totalBytes)
    {
        var data = new byte[totalBytes];
        byte[] signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
        signature.CopyTo(data, 0);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(8), 13);
        "IHDR"u8.CopyTo(data.AsSpan(12));
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(16), width);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(20), height);
        data[24] = 8; data[25] = 2; // 8-bit RGB
        return data;
    }

    /// <summary>SOI, an APP0 (JFIF) segment to skip, then a baseline SOF0 frame header.</summary>
    public static byte[] Jpeg(int width, int height, int totalBytes)
    {
        var data = new byte[totalBytes];
        byte[] head =
        [
            0xFF, 0xD8,                                                     // SOI
            0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, // APP0, length 16
            0xFF, 0xC0, 0x00, 0x11, 8,                                      // SOF0, length 17, 8-bit
        ];
        head.CopyTo(data, 0);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(head.Length), (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(head.Length + 2), (ushort)width);
        data[head.Length + 4] = 3; // components
        return data;
    }
}
