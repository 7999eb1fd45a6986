using System.Globalization;
using System.Text;
using BiasBench.Abstractions;

namespace BiasBench.Plugins.FineTuning;

/// <summary>
/// A numeric CSV table that grows one row at a time and is flushed to disk after every row, so a run killed at any
/// moment keeps every finished row. A last line torn by a kill is dropped (and the file repaired) when it is reopened.
/// The first column is the training step; rows are looked up and truncated by it.
/// </summary>
public sealed class CsvLog
{
    private readonly List<double[]> _rows = [];

    public CsvLog(string path, IReadOnlyList<string> columns)
    {
        Path = path;
        Columns = columns;
        if (columns.Count == 0 || columns[0] != "step") throw new ArgumentException("The first column must be 'step'.", nameof(columns));
        if (columns.Any(c => c.Contains(',') || c.Contains('"') || c.Contains('\n'))) throw new ArgumentException("Column names must not contain commas, quotes or newlines.");
        if (File.Exists(path)) Load();
        else Rewrite();
    }

    public string Path { get; }
    public IReadOnlyList<string> Columns { get; }
    public IReadOnlyList<double[]> Rows => _rows;
    public bool Contains(long step) => _rows.Any(r => (long)r[0] == step);

    public void Append(IReadOnlyList<double> values)
    {
        if (values.Count != Columns.Count) throw new ArgumentException($"{values.Count} values for {Columns.Count} columns of {Path}.");
        var row = values.ToArray();
        using (var stream = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            var bytes = Encoding.UTF8.GetBytes(Line(row) + "\n");
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
        _rows.Add(row);
    }

    /// <summary>Drops the rows after <paramref name="step"/> (a resumed run recomputes them).</summary>
    public void TruncateAfter(long step)
    {
        if (_rows.RemoveAll(r => (long)r[0] > step) > 0) Rewrite();
    }

    public DataTable ToTable(string name, string caption)
    {
        var table = new DataTable(name) { Caption = caption };
        for (var c = 0; c < Columns.Count; c++) table.Add(Columns[c], _rows.Select(r => r[c]).ToArray());
        return table;
    }

    private void Load()
    {
        var text = File.ReadAllText(Path);
        var lines = text.Split('\n');
        var header = lines[0].TrimEnd('\r');
        if (header != string.Join(",", Columns))
            throw new InvalidDataException($"{Path}: its columns ({header}) are not this run's ({string.Join(",", Columns)}); it belongs to other settings. Delete it or use the settings it was written with.");
        var torn = false;
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0) continue;
            var complete = i < lines.Length - 1; // the last element after the final '\n' is empty when the line was finished
            var cells = line.Split(',');
            if (!complete || cells.Length != Columns.Count) { torn = true; continue; }
            var row = new double[cells.Length];
            var ok = true;
            for (var c = 0; c < cells.Length; c++)
            {
                if (cells[c].Length == 0) row[c] = double.NaN;
                else if (!double.TryParse(cells[c], NumberStyles.Float, CultureInfo.InvariantCulture, out row[c])) ok = false;
            }
            if (ok) _rows.Add(row);
            else torn = true;
        }
        if (torn) Rewrite();
    }

    private void Rewrite()
    {
        var tmp = Path + ".tmp";
        var sb = new StringBuilder(string.Join(",", Columns)).Append('\n');
        foreach (var row in _rows) sb.Append(Line(row)).Append('\n');
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
        File.WriteAllText(tmp, sb.ToString());
        File.Move(tmp, Path, overwrite: true);
    }

    private static string Line(double[] row) =>
        string.Join(",", row.Select(v => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture)));
}
