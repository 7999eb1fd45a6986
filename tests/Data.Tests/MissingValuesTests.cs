using BiasBench.Abstractions;

namespace BiasBench.Data.Tests;

public class MissingValuesTests
{
    private static DataTable Table() => new DataTable("scores") { Source = "runs/scores.csv", Caption = "Scores." }
        .Add("image_id", ["a", "b", "c", "d", "e"])
        .Add("x", [1.0, double.NaN, 3, double.NaN, 5])
        .Add("g", ["m", "f", null, "f", "m"])
        .Add("unchecked", [double.NaN, 1, 1, 1, 1]);

    [Fact]
    public void ErrorPolicyNamesSourceColumnAndRows()
    {
        var e = Assert.Throws<TableDataException>(() => MissingValues.Apply(Table(), ["x", "g"], MissingValuePolicy.Error, out _));
        Assert.Contains("runs/scores.csv", e.Message);
        Assert.Contains("column 'x' has 2 missing values (rows 2 [b], 4 [d])", e.Message);
        Assert.Contains("column 'g' has 1 missing value (rows 3 [c])", e.Message);
        Assert.Equal("x", e.Column);
    }

    [Fact]
    public void ErrorPolicyPassesCleanTables()
    {
        var t = Table();
        var same = MissingValues.Apply(t, ["image_id"], MissingValuePolicy.Error, out var report);
        Assert.Same(t, same);
        Assert.True(report.IsEmpty);
        Assert.Equal(0, report.RowsDropped);
    }

    [Fact]
    public void DropRowsReportsPerColumnCountsAndIds()
    {
        var t = MissingValues.Apply(Table(), ["x", "g"], MissingValuePolicy.DropRows, out var report);
        Check.Texts(["a", "e"], t.Text("image_id").Values);
        Assert.Equal([1.0, 5], t.Numeric("x").Values);
        Assert.True(double.IsNaN(t.Numeric("unchecked")[0])); // only the named columns are checked
        Assert.Equal(5, report.RowsBefore);
        Assert.Equal(3, report.RowsDropped);
        var x = report.Entries.Single(e => e.Column == "x");
        Assert.Equal(2, x.Count);
        Assert.Equal(["b", "d"], x.FirstIds);
        Assert.Equal(["c"], report.Entries.Single(e => e.Column == "g").FirstIds);
        Assert.StartsWith("Scores. Missing-value policy DropRows on 'x', 'g': 3 of 5 rows dropped", t.Caption);
        Assert.Equal("runs/scores.csv", t.Source);
    }

    [Fact]
    public void IdsFallBackToRowNumbersAndAreCappedAtTen()
    {
        var values = Enumerable.Range(0, 25).Select(i => i % 2 == 0 ? double.NaN : i).ToArray();
        var t = MissingValues.Apply(new DataTable("n").Add("v", values), ["v"], MissingValuePolicy.DropRows, out var report);
        Assert.Equal(12, t.RowCount);
        var entry = report.Entries.Single();
        Assert.Equal(13, entry.Count);
        Assert.Equal(10, entry.FirstIds.Count);
        Assert.Equal("row 1", entry.FirstIds[0]);
        Assert.Equal("row 3", entry.FirstIds[1]);
        Assert.EndsWith(", ...", report.Describe());
    }

    [Fact]
    public void UnknownColumnNamesTheTable()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => MissingValues.Apply(Table(), ["nope"], MissingValuePolicy.DropRows, out _));
        Assert.Contains("runs/scores.csv", e.Message);
        Assert.Contains("'nope'", e.Message);
    }
}
