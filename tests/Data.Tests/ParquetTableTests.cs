using System.Text;
using BiasBench.Abstractions;
using BiasBench.TestSupport;
using Parquet;
using Parquet.Schema;

namespace BiasBench.Data.Tests;

public class ParquetTableTests
{
    private static DataTable Sample() => new DataTable("scores")
        {
            Source = "memory",
            Caption = "caption with | pipe and ünïcode",
        }
        .Add("image_id", ["0_attractive", "0_normal", null, "", "日本語"])
        .Add("score", [1.5, double.NaN, -0.0, double.MaxValue, 1.0 / 3])
        .Add("flag", [1.0, 0, 1, 0, double.NaN]);

    [Fact]
    public async Task RoundTripKeepsValuesMissingAndMetadata()
    {
        using var dir = new TempDir();
        var path = dir.Combine("sub/scores.parquet");
        var t = Sample();
        await ParquetTable.WriteAsync(t, path, TestContext.Current.CancellationToken);
        Assert.False(File.Exists(path + ".tmp"));

        var back = await ParquetTable.ReadAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal("scores", back.Name);
        Assert.Equal(t.Caption, back.Caption);
        Assert.Equal(path, back.Source);
        Assert.Equal(["image_id", "score", "flag"], back.Columns.Select(c => c.Name));
        Assert.Equal(t.Text("image_id").Values, back.Text("image_id").Values);
        for (var i = 0; i < t.RowCount; i++)
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(t.Numeric("score")[i]), BitConverter.DoubleToInt64Bits(back.Numeric("score")[i]));
            Assert.Equal(t.Numeric("flag")[i], back.Numeric("flag")[i]);
        }
    }

    [Fact]
    public async Task FileIsPlainParquetWithNullableDoubleAndStringColumns()
    {
        using var dir = new TempDir();
        var path = dir.Combine("plain.parquet");
        await ParquetTable.WriteAsync(Sample(), path, TestContext.Current.CancellationToken);

        var bytes = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal("PAR1", Encoding.ASCII.GetString(bytes, 0, 4));
        Assert.Equal("PAR1", Encoding.ASCII.GetString(bytes, bytes.Length - 4, 4));

        await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(1, reader.RowGroupCount);
        var fields = reader.Schema.GetDataFields();
        Assert.Contains(fields[0].ClrType, new[] { typeof(string), typeof(ReadOnlyMemory<char>) }); // UTF-8 string column
        Assert.Equal(typeof(double), fields[1].ClrType);
        Assert.True(fields[1].IsNullable);
        Assert.False(fields[1].IsArray);
        using var rg = reader.OpenRowGroupReader(0);
        Assert.Equal(5, rg.RowCount);
        var raw = new double?[5];
        await rg.ReadAsync<double>(fields[1], raw.AsMemory(), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Null(raw[1]); // NaN is written as a real Parquet null, which pandas reads as NaN
        Assert.Equal(1.5, raw[0]);
    }

    [Fact]
    public async Task ZeroRowsAndNoColumns()
    {
        using var dir = new TempDir();
        var path = dir.Combine("empty.parquet");
        await ParquetTable.WriteAsync(new DataTable("e").Add("x", Array.Empty<double>()).Add("s", Array.Empty<string?>()), path, TestContext.Current.CancellationToken);
        var back = await ParquetTable.ReadAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(0, back.RowCount);
        Assert.Equal(2, back.Columns.Count);
        Assert.True(back["x"].IsNumeric);

        await Assert.ThrowsAsync<ArgumentException>(() => ParquetTable.WriteAsync(new DataTable("none"), dir.Combine("none.parquet"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ReadsOtherNumericTypesAndRowGroups()
    {
        // A file as other tools write it: required int64/int32/bool/float columns, optional doubles, two row groups.
        using var dir = new TempDir();
        var path = dir.Combine("foreign.parquet");
        var fLong = new DataField<long>("l");
        var fInt = new DataField<int?>("i", true);
        var fBool = new DataField<bool>("b");
        var fFloat = new DataField<float>("f");
        var fStr = new DataField<string>("s", true);
        var schema = new ParquetSchema(fLong, fInt, fBool, fFloat, fStr);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: TestContext.Current.CancellationToken))
        {
            foreach (var offset in new[] { 0, 2 })
            {
                using var rg = writer.CreateRowGroup();
                await rg.WriteAsync<long>(fLong, new long[] { offset + 10, offset + 11 }, cancellationToken: TestContext.Current.CancellationToken);
                await rg.WriteAsync<int>(fInt, new int?[] { offset, null }, cancellationToken: TestContext.Current.CancellationToken);
                await rg.WriteAsync<bool>(fBool, new[] { true, false }, cancellationToken: TestContext.Current.CancellationToken);
                await rg.WriteAsync<float>(fFloat, new[] { 0.5f, offset }, cancellationToken: TestContext.Current.CancellationToken);
                await rg.WriteAsync(fStr, new[] { "a" + offset, null });
                rg.CompleteValidate();
            }
        }

        var t = await ParquetTable.ReadAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal("foreign", t.Name);
        Assert.Equal(4, t.RowCount);
        Assert.Equal([10.0, 11, 12, 13], t.Numeric("l").Values);
        Assert.Equal(0, t.Numeric("i")[0]);
        Assert.True(double.IsNaN(t.Numeric("i")[1]));
        Assert.Equal(2, t.Numeric("i")[2]);
        Assert.Equal([1.0, 0, 1, 0], t.Numeric("b").Values);
        Assert.Equal([0.5, 0, 0.5, 2], t.Numeric("f").Values);
        Check.Texts(["a0", null, "a2", null], t.Text("s").Values);
    }

    [Fact]
    public async Task UnsupportedTypeIsAnErrorNamingFileAndColumn()
    {
        using var dir = new TempDir();
        var path = dir.Combine("dates.parquet");
        var f = new DataField<DateTime>("when");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(f), stream, cancellationToken: TestContext.Current.CancellationToken))
        {
            using var rg = writer.CreateRowGroup();
            await rg.WriteAsync<DateTime>(f, new[] { DateTime.UnixEpoch }, cancellationToken: TestContext.Current.CancellationToken);
            rg.CompleteValidate();
        }
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => ParquetTable.ReadAsync(path, TestContext.Current.CancellationToken));
        Assert.Contains(path, e.Message);
        Assert.Contains("'when'", e.Message);
    }

    [Fact]
    public async Task RealCelebAThroughParquet()
    {
        var t = CelebAAttributes.Read(Fixtures.Data("celeba/list_attr_celeba_first20k.txt"), allowPartial: true);
        using var dir = new TempDir();
        var path = dir.Combine("celeba.parquet");
        ParquetTable.Write(t, path); // the synchronous entry point the host uses
        var back = await ParquetTable.ReadAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(t.RowCount, back.RowCount);
        Assert.Equal(t.Columns.Select(c => c.Name), back.Columns.Select(c => c.Name));
        Assert.Equal(t.Text("image_id").Values, back.Text("image_id").Values);
        Assert.Equal(t.Numeric("Male").Values, back.Numeric("Male").Values);
        Assert.Equal(t.Numeric("Young").Values, back.Numeric("Young").Values);
    }
}
