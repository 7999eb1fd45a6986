using BiasBench.Abstractions;
using BiasBench.TestSupport;

namespace BiasBench.Data.Tests;

public class TableJoinTests
{
    private static DataTable Left() => new DataTable("scores") { Source = "scores.csv" }
        .Add("image_id", ["a", "b", "c", null, "d"])
        .Add("score", [1.0, 2, 3, 4, 5])
        .Add("prompt", ["p1", "p2", "p3", "p4", "p5"]);

    private static DataTable Right() => new DataTable("labels") { Source = "labels.txt" }
        .Add("id", ["d", "b", "x", "a"])
        .Add("label", [40.0, 20, 99, 10])
        .Add("prompt", ["q4", "q2", "qx", "q1"]);

    [Fact]
    public void InnerJoinKeepsLeftOrderAndReportsUnmatched()
    {
        var report = new DropReport();
        var j = TableJoin.Inner(Left(), Right(), "image_id", "id", report);

        Assert.Equal(["image_id", "score", "prompt", "label", "prompt_right"], j.Columns.Select(c => c.Name));
        Check.Texts(["a", "b", "d"], j.Text("image_id").Values);
        Assert.Equal([1.0, 2, 5], j.Numeric("score").Values);
        Assert.Equal([10.0, 20, 40], j.Numeric("label").Values);
        Check.Texts(["q1", "q2", "q4"], j.Text("prompt_right").Values);

        var leftMiss = report.Entries.Single(e => e.Table == "scores" && e.Reason.StartsWith("no match"));
        Assert.Equal(1, leftMiss.Count);
        Assert.Equal(["c"], leftMiss.FirstIds);
        var rightMiss = report.Entries.Single(e => e.Table == "labels" && e.Reason.StartsWith("no match"));
        Assert.Equal(["x"], rightMiss.FirstIds);
        Assert.Equal(1, report.Entries.Single(e => e.Table == "scores" && e.Reason == "missing key").Count);
        Assert.Equal(5, report.RowsBefore);
        Assert.Equal(3, report.RowsAfter);
        Assert.Contains("1 left and 1 right rows without a match", j.Caption);
        Assert.Contains("c", report.Describe());
    }

    [Fact]
    public void DuplicateKeyNamesTableColumnKeyAndBothRows()
    {
        var right = new DataTable("labels") { Source = "labels.txt" }.Add("image_id", ["a", "b", "a"]).Add("v", [1.0, 2, 3]);
        var e = Assert.Throws<TableDataException>(() => TableJoin.Inner(Left(), right, "image_id"));
        Assert.Contains("labels.txt", e.Message);
        Assert.Contains("'image_id'", e.Message);
        Assert.Contains("key 'a'", e.Message);
        Assert.Contains("rows 1 and 3", e.Message);
        Assert.Equal("labels.txt", e.Table);
        Assert.Equal("image_id", e.Column);
    }

    [Fact]
    public void NumericKeysAndMissingKeyColumn()
    {
        var l = new DataTable("l").Add("k", [1.0, 2, 3]).Add("x", [10.0, 20, 30]);
        var r = new DataTable("r").Add("k", ["3", "1"]).Add("y", [300.0, 100]);
        var j = TableJoin.Inner(l, r, "k");
        Assert.Equal([1.0, 3], j.Numeric("k").Values);
        Assert.Equal([100.0, 300], j.Numeric("y").Values);

        var e = Assert.Throws<KeyNotFoundException>(() => TableJoin.Inner(Left(), Right(), "image_id"));
        Assert.Contains("labels.txt", e.Message);
        Assert.Contains("image_id", e.Message);
    }

    [Fact]
    public void RealScutSplitScoresAgreeWithAllLabels()
    {
        var all = ScutFbpLabels.Read(Fixtures.Data("scut_fbp5500/All_labels.txt"));
        var test = ScutFbpLabels.Read(Fixtures.Data("scut_fbp5500/split_60train_40test/test.txt"));
        var report = new DropReport();
        var j = TableJoin.Inner(test, all, "image_id", report: report);
        Assert.Equal(2200, j.RowCount);
        Assert.Equal(0, report.Entries[0].Count); // every test image is labelled
        Assert.Equal(3300, report.Entries[1].Count); // the training images
        Assert.Equal(j.Numeric("beauty").Values, j.Numeric("beauty_right").Values);
    }

    [Fact]
    public void RealHackathonScoresJoinAcrossFiles()
    {
        var opts = new CsvReadOptions { ImageIdColumn = "image_path" };
        var flux = CsvTable.Read(Fixtures.Data("hackathon/flux_scores.csv"), opts);
        var root = CsvTable.Read(Fixtures.Data("hackathon/flux_scores_root.csv"), opts);
        var j = TableJoin.Inner(flux, root, "image_id");
        Assert.Equal(300, j.RowCount);
        // SOURCES.md: the two FLUX files agree on image_reward, pick_score and hps row for row.
        foreach (var c in new[] { "image_reward", "pick_score", "hps" })
            Assert.Equal(j.Numeric(c).Values, j.Numeric(c + "_right").Values);
        Assert.True(j.Contains("clip_score"));
    }
}
