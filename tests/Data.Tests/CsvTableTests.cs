using BiasBench.Abstractions;
using BiasBench.TestSupport;

namespace BiasBench.Data.Tests;

public class CsvTableTests
{
    [Fact]
    public void QuotedFieldsDoubledQuotesCrlfAndBom()
    {
        using var dir = new TempDir();
        var path = dir.File("t.csv",
            "id,name,score,note\r\n" +
            "1,\"Smith, J.\",2.5,\"said \"\"hi\"\"\"\r\n" +
            "2,plain,-1e3,\"two\r\nlines\"\r\n" +
            "3,\"\",,\r\n", bom: true);
        var t = CsvTable.Read(path);
        Assert.Equal(["id", "name", "score", "note"], t.Columns.Select(c => c.Name)); // BOM not part of "id"
        Assert.Equal(3, t.RowCount);
        Assert.Equal([1.0, 2, 3], t.Numeric("id").Values);
        Check.Texts(["Smith, J.", "plain", ""], t.Text("name").Values); // quoted empty = empty string
        Assert.Equal(2.5, t.Numeric("score")[0]);
        Assert.Equal(-1000, t.Numeric("score")[1]);
        Assert.True(double.IsNaN(t.Numeric("score")[2]));
        Check.Texts(["said \"hi\"", "two\r\nlines", null], t.Text("note").Values);
        Assert.Equal("t", t.Name);
        Assert.Equal(path, t.Source);
    }

    [Fact]
    public void ColumnTypesAndOptions()
    {
        var t = CsvTable.Parse("a,b,c,d\n000001,1.5,x,NA\n000002,,2,3\n", "mem.csv",
            new CsvReadOptions { TextColumns = ["a"], MissingValues = ["NA"], TableName = "named" });
        Assert.Equal("named", t.Name);
        Check.Texts(["000001", "000002"], t.Text("a").Values); // forced text keeps zero padding
        Assert.Equal(1.5, t.Numeric("b")[0]);
        Assert.True(double.IsNaN(t.Numeric("b")[1]));
        Check.Texts(["x", "2"], t.Text("c").Values); // one non-number makes the column text
        Assert.True(double.IsNaN(t.Numeric("d")[0]));
        Assert.Equal(3, t.Numeric("d")[1]);
    }

    [Fact]
    public void PandasIndexColumnAndBlankLines()
    {
        var t = CsvTable.Parse(",x\n0,1\n\n1,2\n\n", "p.csv");
        Assert.Equal(["Unnamed: 0", "x"], t.Columns.Select(c => c.Name));
        Assert.Equal(2, t.RowCount);
    }

    [Theory]
    [InlineData("a,b\n1,2\n3\n", 3, 2, "1 fields but the header")]
    [InlineData("a,b\n1,2\n3,4,5\n", 3, 5, "3 fields but the header")]
    [InlineData("a,b\r\n1,\"open\r\n", 2, 3, "not closed")]
    [InlineData("a,b\n1,\"x\"y\n", 2, 6, "after the closing quote")]
    [InlineData("a,b\n1,x\"y\n", 2, 4, "stray quote")]
    [InlineData("a,a\n1,2\n", 1, 3, "repeats column 1")]
    [InlineData("", 1, 1, "empty CSV")]
    public void MalformedCsvNamesFileLineColumn(string content, int line, int column, string fragment)
    {
        var e = Assert.Throws<DataFormatException>(() => CsvTable.Parse(content, "x.csv"));
        Assert.StartsWith($"x.csv:{line}:{column}:", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void ErrorLineCountsNewlinesInsideQuotes()
    {
        var e = Assert.Throws<DataFormatException>(() => CsvTable.Parse("a,b\n\"multi\nline\",1\n1,2,3\n", "q.csv"));
        Assert.StartsWith("q.csv:4:5:", e.Message);
    }

    [Theory]
    [InlineData(@"C:\\Users\\x\\images\\sdxl_attractive_seed12.png", "sdxl_attractive_seed12")]
    [InlineData(@"C:\Users\x\images\sdxl_attractive_seed12.png", "sdxl_attractive_seed12")]
    [InlineData("/data/celeba/000001.jpg", "000001")]
    [InlineData("AF1.jpg", "AF1")]
    [InlineData("archive.tar.gz", "archive.tar")]
    [InlineData("noext", "noext")]
    [InlineData(".hidden", ".hidden")]
    public void ImageIdRule(string path, string id) => Assert.Equal(id, ImageIds.FromPath(path));

    [Fact]
    public void ImageIdColumnFromWindowsPaths()
    {
        using var dir = new TempDir();
        var path = dir.File("s.csv",
            "image_path,score\r\n" +
            "C:\\\\Users\\\\x\\\\images\\\\sdxl_attractive_seed12.png,0.5\r\n" +
            ",0.7\r\n");
        var t = CsvTable.Read(path, new CsvReadOptions { ImageIdColumn = "image_path" });
        Assert.Equal(["image_id", "image_path", "score"], t.Columns.Select(c => c.Name));
        Check.Texts(["sdxl_attractive_seed12", null], t.Text("image_id").Values);
        Assert.Equal(@"C:\\Users\\x\\images\\sdxl_attractive_seed12.png", t.Text("image_path")[0]);

        var e = Assert.Throws<DataFormatException>(() => CsvTable.Read(path, new CsvReadOptions { ImageIdColumn = "path" }));
        Assert.StartsWith($"{path}:1:1:", e.Message);
        Assert.Contains("image_path", e.Message);
    }

    [Fact]
    public void WriteRoundTripsValuesQuotesAndMissing()
    {
        using var dir = new TempDir();
        var values = new[] { 0.1, 1.0 / 3, double.NaN, -2.5e-300, 1e21, 123456789.123456789 };
        var t = new DataTable("rt")
            .Add("x", values)
            .Add("s", ["a,b", "say \"q\"", null, "", " padded ", "line\nbreak"]);
        var path = dir.Combine("out/rt.csv");
        CsvTable.Write(t, path);
        var text = File.ReadAllText(path);
        Assert.StartsWith("x,s\n0.1,\"a,b\"\n", text);
        Assert.Contains("\n,\n", text); // NaN and null both empty
        Assert.Contains(",\"\"\n", text); // empty string stays distinguishable from missing

        var back = CsvTable.Read(path);
        var x = back.Numeric("x").Values;
        for (var i = 0; i < values.Length; i++)
            Assert.Equal(BitConverter.DoubleToInt64Bits(values[i]), BitConverter.DoubleToInt64Bits(x[i]));
        Assert.Equal(t.Text("s").Values, back.Text("s").Values);
    }

    [Fact]
    public void WriteUsesInvariantCulture()
    {
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            // A comma-decimal culture (the tests run with invariant globalization, so build one rather than load de-DE).
            var comma = (System.Globalization.CultureInfo)System.Globalization.CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            System.Globalization.CultureInfo.CurrentCulture = comma;
            var csv = CsvTable.ToCsv(new DataTable("c").Add("v", [1.5]));
            Assert.Equal("v\n1.5\n", csv);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void RealHackathonScores()
    {
        var path = Fixtures.Data("hackathon/sdxl_scores.csv");
        var t = CsvTable.Read(path, new CsvReadOptions { ImageIdColumn = "image_path" });
        Assert.Equal(300, t.RowCount);
        Assert.Equal(["image_id", "image_path", "prompt", "attractiveness", "image_reward", "pick_score", "hps"], t.Columns.Select(c => c.Name));
        Assert.False(t["prompt"].IsNumeric);
        Assert.Equal("0_attractive", t.Text("image_id")[0]);
        Assert.Equal(2.0, t.Numeric("attractiveness")[0]);
        Assert.Equal(1.4002103805541992, t.Numeric("image_reward")[0]);
        Assert.Equal(22.09606170654297, t.Numeric("pick_score")[0]);
        Assert.Equal(0.31591796875, t.Numeric("hps")[0]);
        Assert.Equal("9_unattractive", t.Text("image_id")[299]);
        Assert.Equal(0.269287109375, t.Numeric("hps")[299]);
        Assert.Equal(300, t.Text("image_id").Values.Distinct().Count());
        Assert.All(t.Text("prompt").Values, p => Assert.Equal("a portrait photo of a face", p));

        var root = CsvTable.Read(Fixtures.Data("hackathon/flux_scores_root.csv"), new CsvReadOptions { ImageIdColumn = "image_path" });
        Assert.Equal(300, root.RowCount);
        Assert.Equal(9, root.Columns.Count);
        Assert.Equal(1.6673978567123413, root.Numeric("image_reward")[299]);
        Assert.Equal(6.6365437507629395, root.Numeric("aesthetic")[299]);

        // CSV -> DataTable -> CSV -> DataTable keeps every value bit for bit.
        using var dir = new TempDir();
        var copy = dir.Combine("copy.csv");
        CsvTable.Write(t, copy);
        var back = CsvTable.Read(copy);
        foreach (var c in t.Columns)
            Assert.Equal(Enumerable.Range(0, t.RowCount).Select(c.FormatCell), Enumerable.Range(0, t.RowCount).Select(back[c.Name].FormatCell));
    }
}
