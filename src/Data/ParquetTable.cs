using System.Numerics;
using BiasBench.Abstractions;
using Parquet;
using Parquet.Schema;

namespace BiasBench.Data;

/// <summary>
/// Plain Parquet files for <see cref="DataTable"/>s (Parquet.Net): one row group, numeric columns as optional DOUBLE
/// (NaN written as null), text columns as optional UTF-8 strings; readable by pandas/pyarrow. The table name and
/// caption travel in the file's key-value metadata.
/// </summary>
public static class ParquetTable
{
    private const string NameKey = "biasbench.table";
    private const string CaptionKey = "biasbench.caption";

    public static async Task WriteAsync(DataTable table, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(path);
        if (table.Columns.Count == 0)
            throw new ArgumentException($"Table '{table.Name}' has no columns; a Parquet file needs at least one.", nameof(table));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);

        var fields = table.Columns.Select(c => c.IsNumeric ? (DataField)new DataField<double?>(c.Name, true) : new DataField<string>(c.Name, true)).ToArray();
        var schema = new ParquetSchema(fields);
        // Write to a temporary file first so a crash never leaves a truncated .parquet behind.
        var temp = path + ".tmp";
        await using (var stream = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
        {
            await using (var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken))
            {
                var meta = new Dictionary<string, string> { [NameKey] = table.Name };
                if (table.Caption is not null) meta[CaptionKey] = table.Caption;
                writer.CustomMetadata = meta;
                using var rg = writer.CreateRowGroup();
                for (var j = 0; j < fields.Length; j++)
                {
                    switch (table.Columns[j])
                    {
                        case NumericColumn n:
                            var values = new double?[n.Length];
                            for (var r = 0; r < values.Length; r++) values[r] = double.IsNaN(n.Values[r]) ? null : n.Values[r];
                            await rg.WriteAsync<double>(fields[j], values, cancellationToken: cancellationToken);
                            break;
                        case TextColumn t:
                            await rg.WriteAsync(fields[j], t.Values);
                            break;
                        case var other:
                            throw new NotSupportedException($"Column '{other.Name}' of table '{table.Name}' has unsupported type {other.GetType().Name}.");
                    }
                }
                rg.CompleteValidate();
            }
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Synchronous wrapper for callers without an async context (the host's run store).</summary>
    public static void Write(DataTable table, string path) => WriteAsync(table, path).GetAwaiter().GetResult();

    /// <summary>
    /// Reads a flat Parquet file (all row groups): numeric columns (double, float, integers, decimal, bool) become
    /// numeric with null read as NaN, string columns become text. Other types and nested columns are an error.
    /// </summary>
    public static async Task<DataTable> ReadAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken);
        var schema = reader.Schema;
        var fields = schema.GetDataFields();
        if (fields.Length != schema.Fields.Count || fields.Any(f => f.IsArray))
            throw new InvalidDataException($"{path}: nested or repeated Parquet columns are not supported (columns: {string.Join(", ", fields.Select(f => f.Path.ToString()))}).");

        var total = 0L;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var rg = reader.OpenRowGroupReader(g);
            total += rg.RowCount;
        }
        if (total > int.MaxValue) throw new InvalidDataException($"{path}: {total} rows is more than a DataTable holds.");

        var numeric = new double[fields.Length][];
        var text = new string?[fields.Length][];
        for (var j = 0; j < fields.Length; j++)
        {
            var kind = KindOf(fields[j].ClrType);
            if (kind == Kind.Unsupported)
                throw new InvalidDataException($"{path}: column '{fields[j].Name}' has type {fields[j].ClrType.Name}, which a DataTable cannot hold (numbers and strings only).");
            if (kind == Kind.Text) text[j] = new string?[total];
            else numeric[j] = new double[total];
        }

        var offset = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var rg = reader.OpenRowGroupReader(g);
            var n = checked((int)rg.RowCount);
            for (var j = 0; j < fields.Length; j++)
            {
                var f = fields[j];
                try
                {
                    if (text[j] is { } dest)
                        await rg.ReadAsync(f, dest.AsMemory(offset, n), cancellationToken: cancellationToken);
                    else
                        await ReadNumericAsync(rg, f, numeric[j].AsMemory(offset, n), cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException and not InvalidDataException)
                {
                    throw new InvalidDataException($"{path}: cannot read column '{f.Name}' of row group {g}: {e.Message}", e);
                }
            }
            offset += n;
        }

        var meta = reader.CustomMetadata;
        var name = meta is not null && meta.TryGetValue(NameKey, out var nm) && !string.IsNullOrWhiteSpace(nm) ? nm : Path.GetFileNameWithoutExtension(path);
        var table = new DataTable(name) { Source = path };
        if (meta is not null && meta.TryGetValue(CaptionKey, out var cap)) table.Caption = cap;
        for (var j = 0; j < fields.Length; j++)
            table.Add(text[j] is { } t ? new TextColumn(fields[j].Name, t) : new NumericColumn(fields[j].Name, numeric[j]));
        return table;
    }

    private enum Kind { Numeric, Text, Unsupported }

    private static Kind KindOf(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(string) || t == typeof(ReadOnlyMemory<char>)) return Kind.Text; // Parquet.Net 6 reports UTF-8 columns as ReadOnlyMemory<char>
        if (t == typeof(double) || t == typeof(float) || t == typeof(Half) || t == typeof(decimal) || t == typeof(bool) ||
            t == typeof(sbyte) || t == typeof(byte) || t == typeof(short) || t == typeof(ushort) ||
            t == typeof(int) || t == typeof(uint) || t == typeof(long) || t == typeof(ulong))
            return Kind.Numeric;
        return Kind.Unsupported;
    }

    private static Task ReadNumericAsync(ParquetRowGroupReader rg, DataField f, Memory<double> dest, CancellationToken ct)
    {
        var t = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
        if (t == typeof(double)) return Read<double>(rg, f, dest, ct);
        if (t == typeof(float)) return Read<float>(rg, f, dest, ct);
        if (t == typeof(Half)) return Read<Half>(rg, f, dest, ct);
        if (t == typeof(decimal)) return Read<decimal>(rg, f, dest, ct);
        if (t == typeof(sbyte)) return Read<sbyte>(rg, f, dest, ct);
        if (t == typeof(byte)) return Read<byte>(rg, f, dest, ct);
        if (t == typeof(short)) return Read<short>(rg, f, dest, ct);
        if (t == typeof(ushort)) return Read<ushort>(rg, f, dest, ct);
        if (t == typeof(int)) return Read<int>(rg, f, dest, ct);
        if (t == typeof(uint)) return Read<uint>(rg, f, dest, ct);
        if (t == typeof(long)) return Read<long>(rg, f, dest, ct);
        if (t == typeof(ulong)) return Read<ulong>(rg, f, dest, ct);
        if (t == typeof(bool)) return ReadBool(rg, f, dest, ct);
        throw new InvalidDataException($"column '{f.Name}' has non-numeric type {t.Name}.");
    }

    private static async Task Read<T>(ParquetRowGroupReader rg, DataField f, Memory<double> dest, CancellationToken ct)
        where T : struct, INumberBase<T>
    {
        var n = dest.Length;
        if (f.IsNullable)
        {
            var buf = new T?[n];
            await rg.ReadAsync<T>(f, buf.AsMemory(), cancellationToken: ct);
            var d = dest.Span;
            for (var i = 0; i < n; i++) d[i] = buf[i] is { } v ? double.CreateTruncating(v) : double.NaN;
        }
        else
        {
            var buf = new T[n];
            await rg.ReadAsync<T>(f, buf.AsMemory(), cancellationToken: ct);
            var d = dest.Span;
            for (var i = 0; i < n; i++) d[i] = double.CreateTruncating(buf[i]);
        }
    }

    private static async Task ReadBool(ParquetRowGroupReader rg, DataField f, Memory<double> dest, CancellationToken ct)
    {
        var n = dest.Length;
        if (f.IsNullable)
        {
            var buf = new bool?[n];
            await rg.ReadAsync<bool>(f, buf.AsMemory(), cancellationToken: ct);
            var d = dest.Span;
            for (var i = 0; i < n; i++) d[i] = buf[i] is { } v ? (v ? 1 : 0) : double.NaN;
        }
        else
        {
            var buf = new bool[n];
            await rg.ReadAsync<bool>(f, buf.AsMemory(), cancellationToken: ct);
            var d = dest.Span;
            for (var i = 0; i < n; i++) d[i] = buf[i] ? 1 : 0;
        }
    }
}
