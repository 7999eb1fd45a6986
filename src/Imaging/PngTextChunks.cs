using System.Buffers.Binary;
using System.Text;

namespace BiasBench.Imaging;

/// <summary>
/// Writes and reads PNG text chunks (SkiaSharp's encoder cannot write them): <c>tEXt</c> for Latin-1 text, <c>iTXt</c>
/// (uncompressed UTF-8) otherwise, inserted right after <c>IHDR</c> with their CRC-32, so any PNG reader (PIL's
/// <c>Image.info</c>, exiftool) shows the generation settings.
/// </summary>
public static class PngTextChunks
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>A copy of <paramref name="png"/> with one text chunk per entry after IHDR. Keywords must be 1-79
    /// Latin-1 characters without NUL (the PNG rule); values may be any text.</summary>
    public static byte[] Add(byte[] png, IEnumerable<KeyValuePair<string, string>> entries)
    {
        var ihdrEnd = IhdrEnd(png);
        using var output = new MemoryStream(png.Length + 1024);
        output.Write(png, 0, ihdrEnd);
        foreach (var (keyword, text) in entries) WriteChunk(output, keyword, text ?? "");
        output.Write(png, ihdrEnd, png.Length - ihdrEnd);
        return output.ToArray();
    }

    /// <summary>Every tEXt and uncompressed iTXt entry of <paramref name="png"/>, in file order.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Read(byte[] png)
    {
        CheckSignature(png);
        var result = new List<KeyValuePair<string, string>>();
        var offset = Signature.Length;
        while (offset + 12 <= png.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            if (length < 0 || offset + 12 + length > png.Length) throw new InvalidDataException($"PNG chunk at byte {offset} runs past the end of the file.");
            var type = Encoding.ASCII.GetString(png, offset + 4, 4);
            var data = png.AsSpan(offset + 8, length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length));
            if (crc != Crc(png.AsSpan(offset + 4, 4 + length))) throw new InvalidDataException($"PNG chunk '{type}' at byte {offset} has a bad CRC.");
            if (type == "tEXt")
            {
                var nul = data.IndexOf((byte)0);
                if (nul > 0) result.Add(new(Encoding.Latin1.GetString(data[..nul]), Encoding.Latin1.GetString(data[(nul + 1)..])));
            }
            else if (type == "iTXt")
            {
                var nul = data.IndexOf((byte)0);
                if (nul > 0 && data.Length > nul + 2 && data[nul + 1] == 0)
                {
                    var rest = data[(nul + 3)..];
                    var langEnd = rest.IndexOf((byte)0);
                    var translatedEnd = langEnd < 0 ? -1 : rest[(langEnd + 1)..].IndexOf((byte)0);
                    if (translatedEnd >= 0)
                        result.Add(new(Encoding.Latin1.GetString(data[..nul]), Encoding.UTF8.GetString(rest[(langEnd + 1 + translatedEnd + 1)..])));
                }
            }
            if (type == "IEND") break;
            offset += 12 + length;
        }
        return result;
    }

    private static void WriteChunk(Stream output, string keyword, string text)
    {
        if (keyword.Length is 0 or > 79 || keyword.Any(c => c == '\0' || c > 0xFF) || keyword != keyword.Trim())
            throw new ArgumentException($"PNG text keyword '{keyword}' must be 1-79 Latin-1 characters without leading/trailing spaces.", nameof(keyword));
        var latin1 = text.All(c => c != '\0' && c <= 0xFF);
        byte[] data;
        if (latin1)
        {
            data = [.. Encoding.Latin1.GetBytes(keyword), 0, .. Encoding.Latin1.GetBytes(text)];
            Write(output, "tEXt", data);
        }
        else
        {
            // keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, UTF-8 text.
            data = [.. Encoding.Latin1.GetBytes(keyword), 0, 0, 0, 0, 0, .. Encoding.UTF8.GetBytes(text.Replace("\0", ""))];
            Write(output, "iTXt", data);
        }
    }

    private static void Write(Stream output, string type, byte[] data)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)data.Length);
        Encoding.ASCII.GetBytes(type, header[4..]);
        output.Write(header);
        output.Write(data);
        var crcInput = new byte[4 + data.Length];
        header[4..].CopyTo(crcInput);
        data.CopyTo(crcInput, 4);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc(crcInput));
        output.Write(crc);
    }

    private static int IhdrEnd(byte[] png)
    {
        CheckSignature(png);
        if (png.Length < Signature.Length + 8 || Encoding.ASCII.GetString(png, Signature.Length + 4, 4) != "IHDR")
            throw new InvalidDataException("PNG does not start with an IHDR chunk.");
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(Signature.Length));
        return Signature.Length + 12 + length;
    }

    private static void CheckSignature(byte[] png)
    {
        if (png.Length < Signature.Length || !png.AsSpan(0, Signature.Length).SequenceEqual(Signature))
            throw new InvalidDataException("Not a PNG file (bad signature).");
    }

    /// <summary>CRC-32 (ISO 3309, polynomial 0xEDB88320) as the PNG specification defines it.</summary>
    public static uint Crc(ReadOnlySpan<byte> bytes)
    {
        var c = 0xFFFFFFFFu;
        foreach (var b in bytes) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
