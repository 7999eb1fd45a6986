using BiasBench.TestSupport;

namespace BiasBench.Data.Tests;

public class ScutFbpLabelsTests
{
    [Fact]
    public void ParsesLinesWithCrlfAndGroups()
    {
        using var dir = new TempDir();
        var path = dir.File("train.txt", "AF1.jpg 2.716667\r\nAM12.jpg 3.5\r\nCF3.jpg  1.016667\r\nCM750.jpg 4.75");
        var t = ScutFbpLabels.Read(path);
        Assert.Equal(4, t.RowCount);
        Assert.Equal(["image_id", "file", "beauty", "group"], t.Columns.Select(c => c.Name));
        Check.Texts(["AF1", "AM12", "CF3", "CM750"], t.Text("image_id").Values);
        Check.Texts(["AF", "AM", "CF", "CM"], t.Text("group").Values);
        Assert.Equal([2.716667, 3.5, 1.016667, 4.75], t.Numeric("beauty").Values);
    }

    [Fact]
    public void BadScoreNamesFileLineColumn()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.txt", "AF1.jpg 2.716667\r\nAM2.jpg 3,5\r\n");
        var e = Assert.Throws<DataFormatException>(() => ScutFbpLabels.Read(path));
        Assert.StartsWith($"{path}:2:9:", e.Message);
        Assert.Contains("'3,5'", e.Message);
    }

    [Theory]
    [InlineData("XX1.jpg 2.5\n", 1, 1, "group prefix")]
    [InlineData("AF1.jpg\n", 1, 8, "no beauty score")]
    [InlineData("AF1.jpg 2.5 extra\n", 1, 13, "unexpected 'extra'")]
    [InlineData("AF1.jpg 2.5\nAF1.jpg 2.6\n", 2, 1, "first on line 1")]
    [InlineData("AF1.jpg NaN\n", 1, 9, "not a finite number")]
    public void MalformedLines(string content, int line, int column, string fragment)
    {
        using var dir = new TempDir();
        var path = dir.File("labels.txt", content);
        var e = Assert.Throws<DataFormatException>(() => ScutFbpLabels.Read(path));
        Assert.StartsWith($"{path}:{line}:{column}:", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void RealAllLabels()
    {
        var t = ScutFbpLabels.Read(Fixtures.Data("scut_fbp5500/All_labels.txt"));
        Assert.Equal(5500, t.RowCount);
        var groups = t.Text("group").Values.GroupBy(g => g!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(2000, groups["AF"]);
        Assert.Equal(2000, groups["AM"]);
        Assert.Equal(750, groups["CF"]);
        Assert.Equal(750, groups["CM"]);
        Assert.Equal("CF437", t.Text("image_id")[0]);
        Assert.Equal(2.883333, t.Numeric("beauty")[0]);
        var af1 = Array.IndexOf(t.Text("file").Values, "AF1.jpg");
        Assert.Equal(1633, af1); // line 1634
        Assert.Equal(2.333333, t.Numeric("beauty")[af1]);
        Assert.Equal(1.016667, t.Numeric("beauty").Values.Min());
        Assert.Equal(4.75, t.Numeric("beauty").Values.Max());
        Assert.Equal(2.990891, t.Numeric("beauty").Values.Average(), 5);
    }

    [Fact]
    public void RealSplitsPartitionAllLabels()
    {
        var all = ScutFbpLabels.Read(Fixtures.Data("scut_fbp5500/All_labels.txt"));
        var train = ScutFbpLabels.Read(Fixtures.Data("scut_fbp5500/split_60train_40test/train.txt"));
        var test = ScutFbpLabels.Read(Fixtures.Data("scut_fbp5500/split_60train_40test/test.txt"));
        Assert.Equal(3300, train.RowCount);
        Assert.Equal(2200, test.RowCount);
        Assert.Equal("CM423", test.Text("image_id")[0]);
        Assert.Equal(2.8, test.Numeric("beauty")[0]);
        var ids = train.Text("image_id").Values.Concat(test.Text("image_id").Values).ToHashSet();
        Assert.Equal(5500, ids.Count);
        Assert.True(ids.SetEquals(all.Text("image_id").Values));

        for (var k = 1; k <= 5; k++)
        {
            Assert.Equal(4400, ScutFbpLabels.Read(Fixtures.Data($"scut_fbp5500/cv5/train_{k}.txt")).RowCount);
            Assert.Equal(1100, ScutFbpLabels.Read(Fixtures.Data($"scut_fbp5500/cv5/test_{k}.txt")).RowCount);
        }
    }
}
