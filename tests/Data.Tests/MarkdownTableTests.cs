using BiasBench.Abstractions;

namespace BiasBench.Data.Tests;

public class MarkdownTableTests
{
    [Fact]
    public void PipeTableWithAlignmentEscapingAndMissing()
    {
        var t = new DataTable("m") { Caption = "Two rows." }
            .Add("name", ["a|b", null])
            .Add("value", [1.0 / 3, double.NaN]);
        var md = MarkdownTable.Write(t);
        var lines = md.Split('\n');
        Assert.Equal("| name | value |", lines[0]);
        Assert.Equal("| --- | ---: |", lines[1]);
        Assert.Equal("| a\\|b | 0.333333 |", lines[2]);
        Assert.Equal("|  |  |", lines[3]);
        Assert.Contains("*Two rows.*", md);
    }

    [Fact]
    public void TruncatesFormatsAndBreaksLines()
    {
        var t = new DataTable("m").Add("v", Enumerable.Range(0, 5).Select(i => i * 1234.5678).ToArray()).Add("s", ["x\ny", "b", "c", "d", "e"]);
        var md = MarkdownTable.Write(t, maxRows: 2, numberFormat: "F1");
        Assert.Contains("| 1234.6 | b |", md);
        Assert.Contains("| 0.0 | x<br>y |", md);
        Assert.DoesNotContain("2469.1", md);
        Assert.Contains("*First 2 of 5 rows.*", md);
    }

    [Fact]
    public void InvariantCultureNumbers()
    {
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            var comma = (System.Globalization.CultureInfo)System.Globalization.CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            System.Globalization.CultureInfo.CurrentCulture = comma;
            Assert.Contains("| 2.5 |", MarkdownTable.Write(new DataTable("c").Add("v", [2.5])));
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }
}
