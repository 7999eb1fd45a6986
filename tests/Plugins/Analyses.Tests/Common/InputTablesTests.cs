using BiasBench.Abstractions;
using BiasBench.Plugins.Analyses.Common;

namespace BiasBench.Plugins.Analyses.Tests;

public sealed class InputTablesTests
{
    private static AnalysisInputs Inputs(DataTable a, DataTable b) => new(new Dictionary<string, DataTable> { ["judge"] = a, ["data"] = b });

    [Fact]
    public void A_column_carried_by_two_inputs_with_the_same_values_is_kept_once()
    {
        // A judge table carries the images' tags as text; the dataset has the same seed as a number.
        var judged = new DataTable("judge").Add("image_id", new string?[] { "1_a.jpg", "2_b.jpg" }).Add("seed", new string?[] { "1", "2" }).Add("label", new string?[] { "x", "y" });
        var data = new DataTable("data").Add("image_id", new string?[] { "2_b", "1_a" }).Add("seed", new[] { 2.0, 1.0 }).Add("score", new[] { 0.2, 0.1 });
        var joined = InputTables.SingleOrJoined(Inputs(judged, data), "test", "image_id", new List<string>());
        Assert.Equal(["image_id", "seed", "label", "score"], joined.Columns.Select(c => c.Name));
        Assert.Equal(new[] { 0.1, 0.2 }, joined.Numeric("score").Values);
    }

    [Fact]
    public void A_column_carried_by_two_inputs_with_different_values_is_an_error()
    {
        var judged = new DataTable("judge").Add("image_id", new string?[] { "1", "2" }).Add("seed", new string?[] { "1", "3" });
        var data = new DataTable("data").Add("image_id", new string?[] { "1", "2" }).Add("seed", new[] { 1.0, 2.0 });
        var e = Assert.Throws<InvalidDataException>(() => InputTables.SingleOrJoined(Inputs(judged, data), "test", "image_id", new List<string>()));
        Assert.Contains("'seed'", e.Message);
    }
}
