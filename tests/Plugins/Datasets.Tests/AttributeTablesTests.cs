using BiasBench.TestSupport;

namespace BiasBench.Plugins.Datasets.Tests;

public class AttributeTablesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CelebA_first_20k_needs_allow_partial_and_maps_attributes_to_0_1()
    {
        var path = Fixtures.Data("celeba/list_attr_celeba_first20k.txt");
        var strict = await Assert.ThrowsAnyAsync<FormatException>(() => new CelebAAttributesDataset(new CelebAAttributesOptions { Path = path }).LoadAsync(Ct));
        Assert.Contains("declares", strict.Message);

        var content = await new CelebAAttributesDataset(new CelebAAttributesOptions { Path = path, AllowPartial = true }).LoadAsync(Ct);
        Assert.Equal(20_000, content.Table.RowCount);
        Assert.Equal("000001", content.Table.Text("image_id")[0]);
        Assert.Equal(42, content.Table.Columns.Count); // image_id, file, 40 attributes
        Assert.All(content.Table.Numeric("Attractive").Values, v => Assert.True(v is 0 or 1));
        Assert.Empty(content.Images);
    }

    [Fact]
    public async Task Scut_labels_carry_the_group()
    {
        var content = await new ScutFbpDataset(new ScutFbpOptions { Path = Fixtures.Data("scut_fbp5500/All_labels.txt") }).LoadAsync(Ct);
        Assert.Equal(5500, content.Table.RowCount);
        Assert.Equal(new[] { "AF", "AM", "CF", "CM" }, content.Table.Text("group").Values.Distinct().Order().ToArray());
    }

    [Fact]
    public async Task Scut_images_come_with_their_label_rows_and_missing_ones_are_counted_with_where_to_get_them()
    {
        var dir = Directory.CreateTempSubdirectory("bb-scut").FullName;
        var labels = Path.Combine(dir, "All_labels.txt");
        File.WriteAllText(labels, "AF1.jpg 2.5\r\nCM7.jpg 3.25\r\nAM2.jpg 1.75\r\n");
        var images = Directory.CreateDirectory(Path.Combine(dir, "Images")).FullName;
        var photo = Directory.GetFiles(Fixtures.Data("celeba/test_img"), "*.jpg").Order(StringComparer.Ordinal).First();
        foreach (var name in new[] { "AF1.jpg", "CM7.jpg", "AM2.jpg" }) File.Copy(photo, Path.Combine(images, name));
        var options = new ScutFbpOptions { Path = labels, ImagesDirectory = images, Prompt = "a photo of a face" };

        var content = await new ScutFbpDataset(options).LoadAsync(Ct);
        Assert.Equal(["AF1", "CM7", "AM2"], content.Images.Select(i => i.Id).ToArray());
        Assert.Equal(content.Table.Text("image_id").Values, content.Images.Select(i => i.Id).ToArray());
        Assert.All(content.Images, i => Assert.Equal("a photo of a face", i.Tags["prompt"]));

        File.Delete(Path.Combine(images, "CM7.jpg"));
        var missing = await Assert.ThrowsAsync<FileNotFoundException>(() => new ScutFbpDataset(options).LoadAsync(Ct));
        Assert.Contains("1 of 3 images not found", missing.Message);
        Assert.Contains("'CM7.jpg' (data row 2)", missing.Message);
        Assert.Contains("https://github.com/HCIILAB/SCUT-FBP5500-Database-Release", missing.Message);
        Assert.Contains("Images/", missing.Message);
    }

    [Fact]
    public async Task Score_table_keeps_requested_columns_and_names_missing_ones()
    {
        var path = Fixtures.File("stats/celeba_synthetic_scores.csv");
        // Two of the fixture's reward columns (from its header), asked for in reverse: they come back in file order.
        var header = File.ReadLines(path).First().Split(',');
        var attributes = Fixtures.Json("stats/expected_stats.json").RootElement.GetProperty("celeba").GetProperty("attributes")
            .EnumerateArray().Select(a => a.GetString()).ToHashSet();
        var rewards = header.Where(h => h != "image_id" && !attributes.Contains(h)).ToList();
        Assert.True(rewards.Count >= 2, string.Join(",", header));
        var wanted = rewards.TakeLast(2).ToList();
        var content = await new ScoreTableDataset(new ScoreTableOptions { Path = path, Columns = [wanted[1], wanted[0]] }).LoadAsync(Ct);
        Assert.Equal(new[] { "image_id", wanted[0], wanted[1] }, content.Table.Columns.Select(c => c.Name).ToArray());

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new ScoreTableDataset(new ScoreTableOptions { Path = path, Columns = ["hsp"] }).LoadAsync(Ct));
        Assert.Contains("hsp", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public async Task Score_table_derives_image_id_from_a_windows_path_column()
    {
        var dir = Directory.CreateTempSubdirectory("bb-scores").FullName;
        var csv = Path.Combine(dir, "scores.csv");
        File.WriteAllText(csv, "path,score\r\nC:\\\\data\\\\img\\\\000007.jpg,1.5\r\n/data/000008.png,2\r\n");
        var content = await new ScoreTableDataset(new ScoreTableOptions { Path = csv, ImageIdColumn = "path" }).LoadAsync(Ct);
        Assert.Equal(new[] { "000007", "000008" }, content.Table.Text("image_id").Values.Select(v => v!).ToArray());

        var noId = await Assert.ThrowsAsync<InvalidDataException>(() => new ScoreTableDataset(new ScoreTableOptions { Path = csv }).LoadAsync(Ct));
        Assert.Contains("image_id_column", noId.Message);
    }
}
