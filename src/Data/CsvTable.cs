using System.Globalization;
using System.Text;
using BiasBench.Abstractions;

namespace BiasBench.Data;

public sealed class CsvReadOptions
{
    /// <summary>Field separator (RFC 4180: comma).</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>
    /// A column holding image paths or file names; when set, a text column <see cref="ImageIdName"/> with the file name
    /// without extension (<see cref="ImageIds.FromPath"/>) is added as the first column.
    /// </summary>
    public string? ImageIdColumn { get; init; }

    public string ImageIdName { get; init; } = "image_id";

    /// <summary>Columns kept as text even when every cell parses as a number (e.g. zero-padded ids like 000001).</summary>
    public IReadOnlyCollection<string> TextColumns { get; init; } = [];

    /// <summary>Extra cell values that mean "missing" (e.g. "NA"); an unquoted empty cell always does.</summary>
    public IReadOnlyCollection<string> MissingValues { get; init; } = [];

    /// <summary>Table name; default the file name without extension.</summary>
    public string? TableName { get; init; }
}

/// <summary>
/// RFC 4180 CSV: quoted fields with doubled quotes and embedded separators/newlines, LF or CRLF, UTF-8 with or
/// without BOM. A column is numeric when every non-missing cell parses as an invariant-culture double, otherwise text.
/// Missing: an unquoted empty cell (or one of <see cref="CsvReadOptions.MissingValues"/>); a quoted empty cell ("")
/// is an empty string in a text column. Blank lines are skipped (as pandas does).
/// </summary>
public static class CsvTable
{
    private readonly record struct Cell(string Value, bool Quoted, int Column);

    private readonly record struct Record(Cell[] Cells, int Line, int EndColumn);

    public static DataTable Read(string path, CsvReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        // ReadAllText detects and strips a UTF-8/UTF-16 byte-order mark.
        var text = File.ReadAllText(path, Encoding.UTF8);
        return Parse(text, path, options);
    }

    /// <summary>Parses CSV text; <paramref name="source"/> names the file in errors and in the table's Source.</summary>
    public static DataTable Parse(string text, string source, CsvReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= new CsvReadOptions();
        var records = Tokenize(text, source, options.Delimiter);
        if (records.Count == 0) throw new DataFormatException(source, 1, 1, "empty CSV file; expected a header line.");

        var header = records[0];
        var names = new string[header.Cells.Length];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var j = 0; j < names.Length; j++)
        {
            // pandas writes its unnamed index column with an empty header; name it the way pandas reads it back.
            var name = header.Cells[j].Value.Length == 0 ? $"Unnamed: {j}" : header.Cells[j].Value;
            if (string.IsNullOrWhiteSpace(name))
                throw new DataFormatException(source, header.Line, header.Cells[j].Column, $"column {j + 1} has a blank name.");
            if (!seen.TryAdd(name, j))
                throw new DataFormatException(source, header.Line, header.Cells[j].Column, $"column name '{name}' repeats column {seen[name] + 1}.");
            names[j] = name;
        }

        for (var r = 1; r < records.Count; r++)
        {
            var rec = records[r];
            if (rec.Cells.Length == names.Length) continue;
            var col = rec.Cells.Length > names.Length ? rec.Cells[names.Length].Column : rec.EndColumn;
            throw new DataFormatException(source, rec.Line, col,
                $"row has {rec.Cells.Length} fields but the header (line {header.Line}) has {names.Length}.");
        }

        var rows = records.Count - 1;
        var missing = new HashSet<string>(options.MissingValues, StringComparer.Ordinal);
        var forceText = new HashSet<string>(options.TextColumns, StringComparer.Ordinal);
        foreach (var t in forceText)
            if (!seen.ContainsKey(t))
                throw new DataFormatException(source, header.Line, 1, $"TextColumns names '{t}' but the header has no such column. Columns: {string.Join(", ", names)}.");

        var table = new DataTable(options.TableName ?? Path.GetFileNameWithoutExtension(source)) { Source = source };
        var columns = new DataColumn[names.Length];
        for (var j = 0; j < names.Length; j++)
        {
            bool IsMissing(Cell c) => (c.Value.Length == 0 && !c.Quoted) || missing.Contains(c.Value);
            double[]? numbers = forceText.Contains(names[j]) ? null : new double[rows];
            for (var r = 0; r < rows && numbers is not null; r++)
            {
                var c = records[r + 1].Cells[j];
                if (IsMissing(c) || c.Value.Length == 0) numbers[r] = double.NaN;
                else if (double.TryParse(c.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) numbers[r] = v;
                else numbers = null;
            }
            if (numbers is not null)
            {
                columns[j] = new NumericColumn(names[j], numbers);
                continue;
            }
            var strings = new string?[rows];
            for (var r = 0; r < rows; r++)
            {
                var c = records[r + 1].Cells[j];
                strings[r] = IsMissing(c) ? null : c.Value;
            }
            columns[j] = new TextColumn(names[j], strings);
        }

        string? caption = null;
        if (options.ImageIdColumn is { } pathColumn)
        {
            if (!seen.TryGetValue(pathColumn, out var pj))
                throw new DataFormatException(source, header.Line, 1,
                    $"ImageIdColumn '{pathColumn}' is not a column of the header. Columns: {string.Join(", ", names)}.");
            if (seen.ContainsKey(options.ImageIdName))
                throw new DataFormatException(source, header.Line, header.Cells[seen[options.ImageIdName]].Column,
                    $"cannot derive '{options.ImageIdName}' from '{pathColumn}': the file already has a column of that name.");
            var ids = new string?[rows];
            for (var r = 0; r < rows; r++)
            {
                var c = records[r + 1].Cells[pj];
                ids[r] = IsMissingCell(c, missing) ? null : ImageIds.FromPath(c.Value);
            }
            table.Add(options.ImageIdName, ids);
            caption = $"{options.ImageIdName} = file name without extension of '{pathColumn}'.";
        }
        foreach (var c in columns) table.Add(c);
        table.Caption = $"Read from {Path.GetFileName(source)}: {rows} rows." + (caption is null ? "" : " " + caption);
        return table;
    }

    private static bool IsMissingCell(Cell c, HashSet<string> missing) => c.Value.Length == 0 || missing.Contains(c.Value);

    private static List<Record> Tokenize(string text, string source, char delimiter)
    {
        if (delimiter is '"' or '\r' or '\n') throw new ArgumentException($"'{delimiter}' cannot be a CSV delimiter.", nameof(delimiter));
        var records = new List<Record>();
        var sb = new StringBuilder();
        var cells = new List<Cell>();
        var i = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0; // a BOM that survived decoding
        var line = 1;
        var lineStart = 0;
        var len = text.Length;

        while (i < len)
        {
            cells.Clear();
            var recordLine = line;
            int endColumn;
            while (true)
            {
                var col = i - lineStart + 1;
                if (i < len && text[i] == '"')
                {
                    int quoteLine = line, quoteCol = col;
                    sb.Clear();
                    i++;
                    while (true)
                    {
                        if (i >= len)
                            throw new DataFormatException(source, quoteLine, quoteCol, "quoted field is not closed before the end of the file.");
                        var ch = text[i];
                        if (ch == '"')
                        {
                            if (i + 1 < len && text[i + 1] == '"')
                            {
                                sb.Append('"');
                                i += 2;
                                continue;
                            }
                            i++;
                            break;
                        }
                        if (ch == '\n')
                        {
                            line++;
                            lineStart = i + 1;
                        }
                        sb.Append(ch);
                        i++;
                    }
                    if (i < len && text[i] != delimiter && text[i] != '\r' && text[i] != '\n')
                        throw new DataFormatException(source, line, i - lineStart + 1,
                            $"unexpected character '{text[i]}' after the closing quote of the field starting at line {quoteLine}, column {quoteCol}.");
                    cells.Add(new Cell(sb.ToString(), true, col));
                }
                else
                {
                    var start = i;
                    while (i < len && text[i] != delimiter && text[i] != '\r' && text[i] != '\n')
                    {
                        if (text[i] == '"')
                            throw new DataFormatException(source, line, i - lineStart + 1,
                                "stray quote inside an unquoted field (RFC 4180: quote the whole field and double inner quotes).");
                        i++;
                    }
                    cells.Add(new Cell(text[start..i], false, col));
                }

                endColumn = i - lineStart + 1;
                if (i >= len) break;
                var c = text[i];
                if (c == delimiter)
                {
                    i++;
                    continue;
                }
                i++;
                if (c == '\r' && i < len && text[i] == '\n') i++;
                line++;
                lineStart = i;
                break;
            }
            // Blank lines (a single unquoted empty field) are not records.
            if (cells.Count == 1 && !cells[0].Quoted && cells[0].Value.Length == 0) continue;
            records.Add(new Record(cells.ToArray(), recordLine, endColumn));
        }
        return records;
    }

    /// <summary>
    /// Writes RFC 4180 CSV (UTF-8 without BOM, LF line ends): numbers in invariant culture, round-trip format ("R");
    /// missing cells (NaN, null) empty; text quoted when it holds the delimiter, a quote, a line break or
    /// leading/trailing blanks, and an empty string written as "" so it reads back as empty rather than missing.
    /// </summary>
    public static void Write(DataTable table, string path, char delimiter = ',')
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false));
        Write(table, writer, delimiter);
    }

    public static string ToCsv(DataTable table, char delimiter = ',')
    {
        using var sw = new StringWriter(CultureInfo.InvariantCulture);
        Write(table, sw, delimiter);
        return sw.ToString();
    }

    public static void Write(DataTable table, TextWriter writer, char delimiter = ',')
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(writer);
        var cols = table.Columns;
        for (var j = 0; j < cols.Count; j++)
        {
            if (j > 0) writer.Write(delimiter);
            writer.Write(Quote(cols[j].Name, delimiter));
        }
        writer.Write('\n');
        for (var r = 0; r < table.RowCount; r++)
        {
            for (var j = 0; j < cols.Count; j++)
            {
                if (j > 0) writer.Write(delimiter);
                switch (cols[j])
                {
                    case NumericColumn n:
                        var v = n.Values[r];
                        if (!double.IsNaN(v)) writer.Write(v.ToString("R", CultureInfo.InvariantCulture));
                        break;
                    case var c:
                        var s = c.FormatCell(r);
                        if (s is not null) writer.Write(s.Length == 0 ? "\"\"" : Quote(s, delimiter));
                        break;
                }
            }
            writer.Write('\n');
        }
    }

    private static string Quote(string s, char delimiter)
    {
        var needs = s.Length > 0 && (char.IsWhiteSpace(s[0]) || char.IsWhiteSpace(s[^1]));
        foreach (var ch in s)
            if (ch == delimiter || ch == '"' || ch == '\r' || ch == '\n')
            {
                needs = true;
                break;
            }
        return needs ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }
}
