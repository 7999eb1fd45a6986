using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Data;

namespace BiasBench.Plugins.Datasets;

public sealed class CelebAAttributesOptions
{
    /// <summary>CelebA's list_attr_celeba.txt (count line, 40 names, +-1 values; CRLF).</summary>
    [Required] public string? Path { get; set; }

    /// <summary>Accept a file with fewer rows than its count line declares (e.g. the first 20,000 images).</summary>
    public bool AllowPartial { get; set; }

    /// <summary>Optional folder with the images (img_align_celeba / CelebA-HQ), matched by file name, to score them.</summary>
    public string? ImagesDirectory { get; set; }

    /// <summary>Prompt attached to every image for scoring (e.g. "a photo of a face").</summary>
    public string? Prompt { get; set; }
}

/// <summary>CelebA's 40 binary face attributes (values mapped -1/1 -> 0/1), keyed by image id.</summary>
public sealed class CelebAAttributesDataset(CelebAAttributesOptions options) : IDataset
{
    public string Name => "celeba-attributes";

    public Task<DatasetContent> LoadAsync(CancellationToken cancellationToken)
    {
        var table = CelebAAttributes.Read(options.Path!, options.AllowPartial);
        var images = ImagesFor.Files(table, "file", options.ImagesDirectory, options.Prompt, options.Path!);
        return Task.FromResult(new DatasetContent(images, table, "image_id"));
    }
}

public sealed class ScutFbpOptions
{
    /// <summary>SCUT-FBP5500's All_labels.txt, or a split file (train.txt / test.txt): "AF1.jpg 2.716667" per line.</summary>
    [Required] public string? Path { get; set; }

    /// <summary>Optional folder with the SCUT-FBP5500 images (Images/), to score them.</summary>
    public string? ImagesDirectory { get; set; }

    public string? Prompt { get; set; }
}

/// <summary>SCUT-FBP5500 beauty ratings (mean of 60 raters, 1-5) with the AF/AM/CF/CM group.</summary>
public sealed class ScutFbpDataset(ScutFbpOptions options) : IDataset
{
    public string Name => "scut-fbp5500";

    public Task<DatasetContent> LoadAsync(CancellationToken cancellationToken)
    {
        var table = ScutFbpLabels.Read(options.Path!);
        var images = ImagesFor.Files(table, "file", options.ImagesDirectory, options.Prompt, options.Path!);
        return Task.FromResult(new DatasetContent(images, table, "image_id"));
    }
}

public sealed class ScoreTableOptions
{
    /// <summary>A CSV (RFC 4180) or Parquet file with one row per image.</summary>
    [Required] public string? Path { get; set; }

    /// <summary>Column with image paths or file names; an image_id column (file name without extension) is derived from it.
    /// Leave empty when the table already has image_id.</summary>
    public string? ImageIdColumn { get; set; }

    /// <summary>Columns to keep as text even if they look numeric (e.g. zero-padded ids).</summary>
    public List<string> TextColumns { get; set; } = [];

    /// <summary>Cell values meaning "missing" besides an empty cell (e.g. NA).</summary>
    public List<string> MissingValues { get; set; } = [];

    /// <summary>Keep only these columns (plus image_id), e.g. the reward columns of a table that also holds attributes.</summary>
    public List<string>? Columns { get; set; }
}

/// <summary>A plain score or attribute table (CSV or Parquet), e.g. reward scores computed elsewhere.</summary>
public sealed class ScoreTableDataset(ScoreTableOptions options) : IDataset
{
    public string Name => "score-table";

    public async Task<DatasetContent> LoadAsync(CancellationToken cancellationToken)
    {
        var path = options.Path!;
        var table = path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase)
            ? await ParquetTable.ReadAsync(path, cancellationToken)
            : CsvTable.Read(path, new CsvReadOptions
            {
                ImageIdColumn = options.ImageIdColumn,
                TextColumns = options.TextColumns,
                MissingValues = options.MissingValues,
            });
        if (!table.Contains("image_id"))
            throw new InvalidDataException($"{path}: no 'image_id' column (columns: {string.Join(", ", table.Columns.Select(c => c.Name))}); " +
                                           "set image_id_column to the column holding image paths or file names.");
        if (options.Columns is { Count: > 0 } keep)
        {
            var missing = keep.Where(c => !table.Contains(c)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{path}: no column(s) {string.Join(", ", missing)} (columns: {string.Join(", ", table.Columns.Select(c => c.Name))}).");
            table = new DataTable(table.Name, table.Columns.Where(c => c.Name == "image_id" || keep.Contains(c.Name))) { Source = table.Source, Caption = table.Caption };
        }
        return new DatasetContent([], table, "image_id");
    }
}

internal static class ImagesFor
{
    /// <summary>Image references for the table's files inside <paramref name="directory"/> (none when no directory is given).</summary>
    public static IReadOnlyList<ImageRef> Files(DataTable table, string fileColumn, string? directory, string? prompt, string source)
    {
        if (directory is null) return [];
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"Images folder '{directory}' (for {source}) does not exist.");
        var ids = table.Text("image_id").Values; var files = table.Text(fileColumn).Values;
        var images = new List<ImageRef>(ids.Length);
        for (var r = 0; r < ids.Length; r++)
        {
            var file = Path.Combine(directory, files[r]!);
            if (!File.Exists(file)) throw new FileNotFoundException($"{source}: image '{files[r]}' (data row {r + 1}) not found in {directory}.", file);
            var image = ImageRef.FromFile(ids[r]!, file);
            images.Add(prompt is null ? image : image.WithTags(new Dictionary<string, string> { ["prompt"] = prompt }));
        }
        return images;
    }
}
