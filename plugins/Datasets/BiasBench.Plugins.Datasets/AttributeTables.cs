using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Data;

namespace BiasBench.Plugins.Datasets;

public sealed class CelebAAttributesOptions
{
    /// <summary>CelebA's list_attr_celeba.txt (count line, 40 names, +-1 values; CRLF), or CelebAMask-HQ-attribute-anno.txt (same layout).</summary>
    [Required, MissingPathHint(DataHints.CelebAAttributes)] public string? Path { get; set; }

    /// <summary>Accept a file with fewer rows than its count line declares (e.g. the first 20,000 images).</summary>
    public bool AllowPartial { get; set; }

    /// <summary>Optional folder with the images (img_align_celeba / CelebA-HQ), matched by file name, to score them.</summary>
    [MissingPathHint(DataHints.CelebAImages)] public string? ImagesDirectory { get; set; }

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
        var images = ImagesFor.Files(table, "file", options.ImagesDirectory, options.Prompt, options.Path!, DataHints.CelebAImages);
        return Task.FromResult(new DatasetContent(images, table, "image_id"));
    }
}

public sealed class ScutFbpOptions
{
    /// <summary>SCUT-FBP5500's All_labels.txt, or a split file (train.txt / test.txt): "AF1.jpg 2.716667" per line.</summary>
    [Required, MissingPathHint(DataHints.ScutLabels)] public string? Path { get; set; }

    /// <summary>Optional folder with the SCUT-FBP5500 images (Images/): each label row then yields its image, to score it.</summary>
    [MissingPathHint(DataHints.ScutImages)] public string? ImagesDirectory { get; set; }

    public string? Prompt { get; set; }
}

/// <summary>SCUT-FBP5500 beauty ratings (mean of 60 raters, 1-5) with the AF/AM/CF/CM group.</summary>
public sealed class ScutFbpDataset(ScutFbpOptions options) : IDataset
{
    public string Name => "scut-fbp5500";

    public Task<DatasetContent> LoadAsync(CancellationToken cancellationToken)
    {
        var table = ScutFbpLabels.Read(options.Path!);
        var images = ImagesFor.Files(table, "file", options.ImagesDirectory, options.Prompt, options.Path!, DataHints.ScutImages);
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

/// <summary>Where the public face data sets are published and which of their files an option expects.</summary>
internal static class DataHints
{
    public const string Scut = "SCUT-FBP5500 is published at https://github.com/HCIILAB/SCUT-FBP5500-Database-Release";
    public const string ScutImages = Scut + "; images_directory expects the Images/ folder of its SCUT-FBP5500_v2 release (5,500 JPEGs, AF1.jpg ... CM750.jpg).";
    public const string ScutLabels = Scut + "; path expects a label file from its train_test_files/ folder: All_labels.txt, or " +
                                     "'split_of_60%training and 40%testing/test.txt' (or train.txt) for the official 60/40 split.";
    public const string CelebA = "CelebA is published at https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html";
    public const string CelebAImages = CelebA + "; images_directory expects its img_align_celeba/ folder (000001.jpg ...), or for CelebA-HQ the " +
                                       "CelebA-HQ-img/ folder of CelebAMask-HQ (https://github.com/switchablenorms/CelebAMask-HQ).";
    public const string CelebAAttributes = CelebA + "; path expects Anno/list_attr_celeba.txt, or for CelebA-HQ CelebAMask-HQ-attribute-anno.txt " +
                                           "(https://github.com/switchablenorms/CelebAMask-HQ, same layout).";
}

internal static class ImagesFor
{
    /// <summary>
    /// Image references for the table's files inside <paramref name="directory"/> (none when no directory is given). Every
    /// file must exist; otherwise the error counts the missing ones and ends with <paramref name="hint"/>.
    /// </summary>
    public static IReadOnlyList<ImageRef> Files(DataTable table, string fileColumn, string? directory, string? prompt, string source, string? hint = null)
    {
        if (directory is null) return [];
        var suffix = hint is null ? "" : " " + hint;
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"Images folder '{directory}' (for {source}) does not exist.{suffix}");
        var ids = table.Text("image_id").Values; var files = table.Text(fileColumn).Values;
        var images = new List<ImageRef>(ids.Length);
        var missing = new List<string>();
        for (var r = 0; r < ids.Length; r++)
        {
            var file = Path.Combine(directory, files[r]!);
            if (!File.Exists(file))
            {
                if (missing.Count < 3) missing.Add($"'{files[r]}' (data row {r + 1})");
                else if (missing.Count == 3) missing.Add("...");
                continue;
            }
            var image = ImageRef.FromFile(ids[r]!, file);
            images.Add(prompt is null ? image : image.WithTags(new Dictionary<string, string> { ["prompt"] = prompt }));
        }
        if (missing.Count > 0)
            throw new FileNotFoundException($"{source}: {ids.Length - images.Count} of {ids.Length} images not found in {directory}: " +
                                            $"{string.Join(", ", missing)}.{suffix}");
        return images;
    }
}
