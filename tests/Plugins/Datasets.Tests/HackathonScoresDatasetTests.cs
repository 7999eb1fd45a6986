using BiasBench.TestSupport;

namespace BiasBench.Plugins.Datasets.Tests;

public class HackathonScoresDatasetTests
{
    [Theory]
    [InlineData("hackathon/sdxl_scores.csv")]
    [InlineData("hackathon/flux_scores.csv")]
    [InlineData("hackathon/flux_scores_root.csv")]
    public async Task Reads_the_real_hackathon_tables_as_they_are(string file)
    {
        var path = Fixtures.Data(file);
        var content = await new HackathonScoresDataset(new HackathonScoresOptions { Path = path, Generator = "X" }).LoadAsync(default);
        var t = content.Table;
        // Sizes and reward columns come from the file itself: a header, one row per image, 3 prompt conditions per seed.
        var lines = File.ReadAllText(path).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var rows = lines.Length - 1;
        Assert.Equal(rows, t.RowCount);
        Assert.Equal("0_attractive", t.Text("image_id")[0]); // the file name without extension, as for every dataset
        Assert.Equal(rows, t.Text("image_id").Values.Distinct().Count());
        Assert.Equal(rows / 3, t.Numeric("seed").Values.Distinct().Count());
        Assert.Equal(new[] { "attractive", "normal", "unattractive" }, t.Text("condition").Values.Distinct().Order());
        var rewards = lines[0].Split(',').Except(["image_path", "prompt", "attractiveness"]).ToList();
        Assert.NotEmpty(rewards);
        foreach (var reward in rewards)
            Assert.DoesNotContain(t.Numeric(reward).Values, double.IsNaN);
        // The first data row, checked against the file's own text (CRLF and Windows paths survive intact).
        var firstLine = File.ReadAllText(path).Split("\r\n")[1].Split(',');
        Assert.Equal(double.Parse(firstLine[^1], System.Globalization.CultureInfo.InvariantCulture), t.Numeric("hps")[0]);
        Assert.StartsWith("C:\\\\", t.Text("image_path")[0]);
    }

    [Fact]
    public async Task Malformed_rows_name_file_and_line()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        var path = Path.Combine(dir, "scores.csv");
        File.WriteAllText(path, "image_path,prompt,attractiveness,hps\r\nC:\\\\x\\\\1_attractive.jpg,p,2.0,0.3\r\nC:\\\\x\\\\2_normal.jpg,p,1.0,oops\r\n");
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new HackathonScoresDataset(new HackathonScoresOptions { Path = path }).LoadAsync(default));
        Assert.Contains($"{path}:3", e.Message);
        Assert.Contains("'hps'", e.Message);

        File.WriteAllText(path, "image_path,prompt,attractiveness,hps\r\nC:\\\\x\\\\1_attractive.jpg,p,0.0,0.3\r\n");
        var e2 = await Assert.ThrowsAsync<InvalidDataException>(() => new HackathonScoresDataset(new HackathonScoresOptions { Path = path }).LoadAsync(default));
        Assert.Contains("file name says 'attractive' but attractiveness is 0", e2.Message);
    }
}

public class CsvFileTests
{
    [Fact]
    public void Parses_quotes_embedded_commas_newlines_and_crlf()
    {
        var rows = CsvFile.Parse("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",2\n", "t.csv");
        Assert.Equal(3, rows.Count);
        Assert.Equal(["x, y", "say \"hi\""], rows[1].Fields);
        Assert.Equal("multi\nline", rows[2].Fields[0]);
        Assert.Equal(3, rows[2].Line);
    }

    [Fact]
    public void Unterminated_quote_is_an_error_with_its_line()
    {
        var e = Assert.Throws<InvalidDataException>(() => CsvFile.Parse("a\n\"open\n", "t.csv"));
        Assert.Contains("t.csv:2", e.Message);
    }
}

public class ImageFolderDatasetTests
{
    [Fact]
    public async Task Lists_images_in_name_order_with_relative_ids()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        foreach (var n in new[] { "b.jpg", "a.png", "notes.txt" }) File.WriteAllText(Path.Combine(dir, n), n);
        var content = await new ImageFolderDataset(new ImageFolderOptions { Directory = dir, Prompt = "a face" }).LoadAsync(default);
        Assert.Equal(["a", "b"], content.Images.Select(i => i.Id));
        Assert.Equal(["a", "b"], content.Table.Text("image_id").Values);
        Assert.Equal("a face", content.Images[0].Tags["prompt"]);
    }

    [Fact]
    public async Task Two_files_with_one_id_are_refused()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        foreach (var n in new[] { "a.jpg", "a.png" }) File.WriteAllText(Path.Combine(dir, n), n);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new ImageFolderDataset(new ImageFolderOptions { Directory = dir }).LoadAsync(default));
        Assert.Contains("'a.jpg' and 'a.png'", e.Message);
    }

    [Fact]
    public async Task Image_folder_and_hackathon_scores_ids_join_on_the_real_sdxl_set()
    {
        var scores = (await new HackathonScoresDataset(new HackathonScoresOptions { Path = Fixtures.Data("hackathon/sdxl_scores.csv") }).LoadAsync(default)).Table;
        var images = (await new ImageFolderDataset(new ImageFolderOptions { Directory = Fixtures.Data("hackathon/sdxl") }).LoadAsync(default)).Table;
        var report = new BiasBench.Data.DropReport();
        var joined = BiasBench.Data.TableJoin.Inner(images, scores, "image_id", report: report);
        Assert.Equal(scores.RowCount, joined.RowCount);
        Assert.Equal(images.RowCount, joined.RowCount);
        Assert.Contains("0_attractive", joined.Text("image_id").Values);
        Assert.Contains("hps", joined.Columns.Select(c => c.Name));
    }

    [Fact]
    public async Task Empty_folder_is_a_clear_error()
    {
        var dir = Directory.CreateTempSubdirectory().FullName;
        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => new ImageFolderDataset(new ImageFolderOptions { Directory = dir }).LoadAsync(default));
        Assert.Contains(dir, e.Message);
    }
}
