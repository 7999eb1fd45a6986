using System.Buffers.Binary;

namespace BiasBench.PluginTemplate;

/// <summary>Reads an image's width and height from its PNG (IHDR) or JPEG (SOFn) header without decoding it.</summary>
public static class ImageHeader
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>True with the size, or false with the reason (unknown format, truncated header).</summary>
    public static bool TryReadSize(ReadOnlySpan<byte> data, out int width, out int height, out string? error)
    {
        width = height = 0;
        error = null;
        if (data.StartsWith(PngSignature))
        {
            // Signature, then the IHDR chunk: length (4), "IHDR" (4), width (4, big-endian), height (4).
            if (data.Length < 24 || !data.Slice(12, 4).SequenceEqual("IHDR"u8)) return Fail("truncated PNG header", out error);
            width = BinaryPrimitives.ReadInt32BigEndian(data[16..]);
            height = BinaryPrimitives.ReadInt32BigEndian(data[20..]);
            return width > 0 && height > 0 || Fail($"PNG header gives a {width}x{height} image", out error);
        }
        if (data.Length >= 2 && data[0] == 0xFF && data[1] == 0xD8)
        {
            // JPEG: walk the marker segments to the first start-of-frame (SOF0-SOF15 except DHT C4, JPG C8, DAC CC).
            var i = 2;
            while (i + 4 <= data.Length)
            {
                if (data[i] != 0xFF) return Fail($"JPEG marker expected at byte {i}", out error);
                var marker = data[i + 1];
                if (marker == 0xFF) { i++; continue; } // fill byte
                if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) { i += 2; continue; } // markers without a length
                if (marker is 0xD9 or 0xDA) break; // end of image, or start of scan before any frame header
                var length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
                if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
                {
                    if (i + 9 > data.Length) break;
                    height = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]);
                    width = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]);
                    return width > 0 && height > 0 || Fail($"JPEG frame header gives a {width}x{height} image", out error);
                }
                i += 2 + length;
            }
            return Fail("no JPEG frame header (truncated file?)", out error);
        }
        return Fail("not a PNG or JPEG file", out error);
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }
}
