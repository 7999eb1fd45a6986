using System.Globalization;

namespace BiasBench.Abstractions;

/// <summary>A named column: numeric (double; NaN = missing) or text (null = missing).</summary>
public abstract class DataColumn
{
    protected DataColumn(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A column needs a non-empty name.", nameof(name));
        Name = name;
    }

    public string Name { get; }
    public abstract int Length { get; }
    public abstract bool IsNumeric { get; }
    public abstract string? FormatCell(int row);
    public abstract DataColumn Select(IReadOnlyList<int> rows);
    public abstract DataColumn Rename(string name);
}

public sealed class NumericColumn(string name, double[] values) : DataColumn(name)
{
    public double[] Values { get; } = values ?? throw new ArgumentNullException(nameof(values));
    public override int Length => Values.Length;
    public override bool IsNumeric => true;
    public double this[int row] => Values[row];

    public override string? FormatCell(int row) =>
        double.IsNaN(Values[row]) ? null : Values[row].ToString("R", CultureInfo.InvariantCulture);

    public override DataColumn Select(IReadOnlyList<int> rows)
    {
        var v = new double[rows.Count];
        for (var i = 0; i < v.Length; i++) v[i] = Values[rows[i]];
        return new NumericColumn(Name, v);
    }

    public override DataColumn Rename(string name) => new NumericColumn(name, Values);
}

public sealed class TextColumn(string name, string?[] values) : DataColumn(name)
{
    public string?[] Values { get; } = values ?? throw new ArgumentNullException(nameof(values));
    public override int Length => Values.Length;
    public override bool IsNumeric => false;
    public string? this[int row] => Values[row];
    public override string? FormatCell(int row) => Values[row];

    public override DataColumn Select(IReadOnlyList<int> rows)
    {
        var v = new string?[rows.Count];
        for (var i = 0; i < v.Length; i++) v[i] = Values[rows[i]];
        return new TextColumn(Name, v);
    }

    public override DataColumn Rename(string name) => new TextColumn(name, Values);
}

/// <summary>
/// A small column-oriented table, the unit analyses consume and produce. Deliberately minimal: the host
/// writes it as CSV, Parquet and Markdown; plugins never need a data-frame library.
/// </summary>
public sealed class DataTable
{
    private readonly List<DataColumn> _columns = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    public DataTable(string name, IEnumerable<DataColumn>? columns = null)
    {
        Name = name;
        if (columns is not null) foreach (var c in columns) Add(c);
    }

    public string Name { get; }

    /// <summary>Where the table came from (a file path, a stage), for error messages.</summary>
    public string? Source { get; init; }

    /// <summary>Free text shown under the table in reports (e.g. which test, which drop policy).</summary>
    public string? Caption { get; set; }

    public IReadOnlyList<DataColumn> Columns => _columns;
    public int RowCount => _columns.Count == 0 ? 0 : _columns[0].Length;
    public bool Contains(string column) => _index.ContainsKey(column);

    public DataTable Add(DataColumn column)
    {
        if (_columns.Count > 0 && column.Length != RowCount)
            throw new ArgumentException($"Column '{column.Name}' has {column.Length} rows but table '{Name}' has {RowCount}.");
        if (!_index.TryAdd(column.Name, _columns.Count))
            throw new ArgumentException($"Table '{Name}' already has a column named '{column.Name}'.");
        _columns.Add(column);
        return this;
    }

    public DataTable Add(string name, double[] values) => Add(new NumericColumn(name, values));
    public DataTable Add(string name, string?[] values) => Add(new TextColumn(name, values));

    public DataColumn this[string column] =>
        _index.TryGetValue(column, out var i)
            ? _columns[i]
            : throw new KeyNotFoundException($"Table '{Name}'{(Source is null ? "" : $" ({Source})")} has no column '{column}'. Columns: {string.Join(", ", _columns.Select(c => c.Name))}.");

    public NumericColumn Numeric(string column) =>
        this[column] as NumericColumn ?? throw new InvalidOperationException($"Column '{column}' of table '{Name}' is text, not numeric.");

    public TextColumn Text(string column) =>
        this[column] as TextColumn ?? throw new InvalidOperationException($"Column '{column}' of table '{Name}' is numeric, not text.");

    public DataTable SelectRows(IReadOnlyList<int> rows, string? name = null) =>
        new(name ?? Name, _columns.Select(c => c.Select(rows))) { Source = Source, Caption = Caption };
}
