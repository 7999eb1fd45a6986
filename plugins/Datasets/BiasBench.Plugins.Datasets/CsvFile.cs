using System.Text;

namespace BiasBench.Plugins.Datasets;

/// <summary>One CSV record with the 1-based line it starts on (for error messages).</summary>
public sealed record CsvRow(int Line, string[] Fields);

/// <summary>RFC 4180 CSV: quoted fields with embedded commas, quotes and line breaks; CRLF or LF.</summary>
public static class CsvFile
{
    public static List<CsvRow> Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot read '{path}': {e.Message}", e);
        }
        return Parse(text, path);
    }

    public static List<CsvRow> Parse(string text, string source)
    {
        var rows = new List<CsvRow>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var line = 1; var rowStart = 1;
        var inQuotes = false; var fieldStarted = false;
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inQuotes)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                    else inQuotes = false;
                }
                else
                {
                    if (c == '\n') line++;
                    field.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0 && !fieldStarted:
                    inQuotes = true; fieldStarted = true;
                    break;
                case '"':
                    throw new InvalidDataException($"{source}:{line}: stray quote inside an unquoted field.");
                case ',':
                    fields.Add(field.ToString()); field.Clear(); fieldStarted = false;
                    break;
                case '\r' when i + 1 < text.Length && text[i + 1] == '\n':
                    break;
                case '\n' or '\r':
                    fields.Add(field.ToString()); field.Clear(); fieldStarted = false;
                    if (!(fields.Count == 1 && fields[0].Length == 0)) rows.Add(new CsvRow(rowStart, fields.ToArray()));
                    fields.Clear();
                    line++; rowStart = line;
                    break;
                default:
                    field.Append(c); fieldStarted = true;
                    break;
            }
        }
        if (inQuotes) throw new InvalidDataException($"{source}:{rowStart}: unterminated quoted field.");
        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            rows.Add(new CsvRow(rowStart, fields.ToArray()));
        }
        return rows;
    }
}
