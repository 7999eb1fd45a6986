using System.Text;

namespace BiasBench.Data;

/// <summary>Byte-level helpers shared by the whitespace-separated label readers (ASCII/UTF-8 files, LF or CRLF).</summary>
internal static class TextLines
{
    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>Skips a UTF-8 byte-order mark.</summary>
    public static int StartOffset(ReadOnlySpan<byte> data) => data.StartsWith(Utf8Bom) ? 3 : 0;

    /// <summary>
    /// Returns the next line (without LF or CRLF) starting at <paramref name="pos"/> and advances past its end;
    /// false at the end of the data. A last line without a final newline is still returned.
    /// </summary>
    public static bool NextLine(ReadOnlySpan<byte> data, ref int pos, out ReadOnlySpan<byte> line)
    {
        if (pos >= data.Length)
        {
            line = default;
            return false;
        }
        var rest = data[pos..];
        var nl = rest.IndexOf((byte)'\n');
        if (nl < 0)
        {
            line = rest;
            pos = data.Length;
        }
        else
        {
            line = rest[..nl];
            pos += nl + 1;
        }
        if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
        return true;
    }

    public static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\f' or (byte)'\v';

    /// <summary>Next run of non-blank bytes at or after <paramref name="i"/>; <paramref name="start"/> is 0-based.</summary>
    public static bool NextToken(ReadOnlySpan<byte> line, ref int i, out int start, out int length)
    {
        while (i < line.Length && IsSpace(line[i])) i++;
        start = i;
        while (i < line.Length && !IsSpace(line[i])) i++;
        length = i - start;
        return length > 0;
    }

    public static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (var b in line)
            if (!IsSpace(b)) return false;
        return true;
    }

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>A token for an error message, shortened so a binary file cannot flood the log.</summary>
    public static string Shown(ReadOnlySpan<byte> bytes) => bytes.Length <= 40 ? Text(bytes) : Text(bytes[..40]) + "…";
}
