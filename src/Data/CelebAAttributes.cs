using System.Globalization;
using BiasBench.Abstractions;

namespace BiasBench.Data;

/// <summary>
/// Reader for CelebA's <c>list_attr_celeba.txt</c>: line 1 the image count, line 2 the 40 attribute names, then one
/// line per image, <c>000001.jpg -1  1  1 -1 ...</c> (values -1/1 aligned with runs of spaces, CRLF line endings,
/// possibly no final newline).
/// </summary>
/// <remarks>
/// Output columns: <c>image_id</c> (file name without extension, e.g. <c>000001</c>), <c>file</c> (the name as
/// written, e.g. <c>000001.jpg</c>) and one numeric column per attribute, in file order, with -1 mapped to 0
/// (attribute absent) and 1 to 1 (present), so column means are prevalences. Parsed on bytes with spans (the full
/// file has 202,599 rows).
/// </remarks>
public static class CelebAAttributes
{
    /// <summary>Reads the file; the row count must equal the count on line 1.</summary>
    public static DataTable Read(string path) => Read(path, allowPartial: false);

    /// <summary>
    /// Reads the file. With <paramref name="allowPartial"/> a file with fewer rows than line 1 declares (a truncated
    /// copy, such as the first 20,000 images) is accepted and the caption says so; more rows than declared are
    /// always an error.
    /// </summary>
    public static DataTable Read(string path, bool allowPartial)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(File.ReadAllBytes(path), path, allowPartial);
    }

    /// <summary>Parses file contents; <paramref name="source"/> names the file in errors and in the table's Source.</summary>
    public static DataTable Parse(ReadOnlySpan<byte> data, string source, bool allowPartial = false)
    {
        var pos = TextLines.StartOffset(data);
        var lineNo = 0;

        // Line 1: number of images.
        if (!TextLines.NextLine(data, ref pos, out var line))
            throw new DataFormatException(source, 1, 1, "empty file; expected the image count on line 1 (CelebA list_attr_celeba.txt).");
        lineNo = 1;
        var i = 0;
        if (!TextLines.NextToken(line, ref i, out var s, out var n))
            throw new DataFormatException(source, 1, 1, "expected the image count on line 1, found a blank line.");
        if (!int.TryParse(line.Slice(s, n), NumberStyles.None, CultureInfo.InvariantCulture, out var declared))
            throw new DataFormatException(source, 1, s + 1, $"expected the image count (a non-negative integer) on line 1, found '{TextLines.Shown(line.Slice(s, n))}'.");
        if (TextLines.NextToken(line, ref i, out s, out n))
            throw new DataFormatException(source, 1, s + 1, $"unexpected '{TextLines.Shown(line.Slice(s, n))}' after the image count on line 1.");

        // Line 2: attribute names.
        if (!TextLines.NextLine(data, ref pos, out line))
            throw new DataFormatException(source, 2, 1, "missing line 2 (the attribute names).");
        lineNo = 2;
        var names = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal) { "image_id", "file" };
        i = 0;
        while (TextLines.NextToken(line, ref i, out s, out n))
        {
            var name = TextLines.Text(line.Slice(s, n));
            if (!seen.Add(name))
                throw new DataFormatException(source, 2, s + 1, $"attribute name '{name}' is repeated or clashes with the 'image_id'/'file' columns.");
            names.Add(name);
        }
        if (names.Count == 0) throw new DataFormatException(source, 2, 1, "line 2 should list the attribute names but is blank.");

        // Rows cannot exceed the number of remaining lines; this bounds the allocation even if line 1 is bogus.
        var capacity = Math.Min(declared, data[pos..].Count((byte)'\n') + 1);
        var values = new double[names.Count][];
        for (var a = 0; a < values.Length; a++) values[a] = new double[capacity];
        var files = new string?[capacity];
        var ids = new string?[capacity];
        var firstLine = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
        var rows = 0;

        while (TextLines.NextLine(data, ref pos, out line))
        {
            lineNo++;
            if (TextLines.IsBlank(line)) continue;
            i = 0;
            TextLines.NextToken(line, ref i, out s, out n);
            if (rows >= declared)
                throw new DataFormatException(source, lineNo, s + 1, $"more data rows than the {declared} images declared on line 1.");
            var file = TextLines.Text(line.Slice(s, n));
            if (!firstLine.TryAdd(file, lineNo))
                throw new DataFormatException(source, lineNo, s + 1, $"image '{file}' appears twice (first on line {firstLine[file]}).");
            files[rows] = file;
            ids[rows] = ImageIds.FromPath(file);

            for (var a = 0; a < names.Count; a++)
            {
                if (!TextLines.NextToken(line, ref i, out s, out n))
                    throw new DataFormatException(source, lineNo, line.Length + 1,
                        $"image '{file}' has {a} attribute values but line 2 names {names.Count} (missing '{names[a]}').");
                var tok = line.Slice(s, n);
                double v;
                if (tok.Length == 1 && tok[0] == (byte)'1') v = 1;
                else if (tok.Length == 2 && tok[1] == (byte)'1' && tok[0] == (byte)'-') v = 0;
                else if (tok.Length == 2 && tok[1] == (byte)'1' && tok[0] == (byte)'+') v = 1;
                else
                    throw new DataFormatException(source, lineNo, s + 1,
                        $"value '{TextLines.Shown(tok)}' for attribute '{names[a]}' of image '{file}' is not -1 or 1.");
                values[a][rows] = v;
            }
            if (TextLines.NextToken(line, ref i, out s, out n))
                throw new DataFormatException(source, lineNo, s + 1,
                    $"image '{file}' has more than the {names.Count} attribute values named on line 2 (extra '{TextLines.Shown(line.Slice(s, n))}').");
            rows++;
        }

        if (rows != declared && !(allowPartial && rows < declared))
            throw new DataFormatException(source, 1, 1,
                $"line 1 declares {declared} images but the file has {rows} data rows" +
                (rows < declared ? " (a truncated copy? read it with allowPartial: true to accept that)." : "."));

        if (rows < capacity)
        {
            Array.Resize(ref files, rows);
            Array.Resize(ref ids, rows);
            for (var a = 0; a < values.Length; a++) Array.Resize(ref values[a], rows);
        }

        var table = new DataTable("celeba_attributes") { Source = source };
        table.Add("image_id", ids).Add("file", files);
        for (var a = 0; a < names.Count; a++) table.Add(names[a], values[a]);
        table.Caption =
            $"CelebA attributes from {Path.GetFileName(source)}: {rows} images x {names.Count} attributes; " +
            "file values -1/1 mapped to 0 (absent) / 1 (present); image_id = file name without extension." +
            (rows < declared ? $" Partial file: {rows} of the {declared} images declared on line 1." : "");
        return table;
    }
}
