using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Data;

namespace BiasBench.Plugins.Datasets;

public sealed class ImageFolderOptions
{
    /// <summary>Folder with the images (searched recursively when <see cref="Recursive"/>).</summary>
    [Required] public string? Directory { get; set; }

    /// <summary>File patterns to include.</summary>
    public List<string> Patterns { get; set; } = ["*.jpg", "*.jpeg", "*.png", "*.webp"];

    public bool Recursive { get; set; }

    /// <summary>Optional: at most this many images (in file-name order), for quick trials.</summary>
    [Range(1, int.MaxValue)] public int? Limit { get; set; }

    /// <summary>Prompt attached to every image (score stages may also set one).</summary>
    public string? Prompt { get; set; }
}

/// <summary>
/// A folder of images. The image id follows the project-wide rule (<see cref="ImageIds.FromPath"/>: file name without
/// extension, so '000001.jpg' is '000001' and joins with CelebA, SCUT and score tables); in a recursive listing the
/// sub-folder is kept ('sub/000001') so ids stay unique.
/// </summary>
public sealed class ImageFolderDataset(ImageFolderOptions options) : IDataset
{
    public string Name => "image-folder";

    public Task<DatasetContent> LoadAsync(CancellationToken cancellationToken)
    {
        var root = options.Directory!;
        if (!System.IO.Directory.Exists(root)) throw new DirectoryNotFoundException($"Image folder '{root}' does not exist.");
        var search = options.Recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly;
        var files = options.Patterns.SelectMany(p => System.IO.Directory.EnumerateFiles(root, p, search))
            .Distinct().OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (options.Limit is { } limit) files = files.Take(limit).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"No images matching {string.Join(", ", options.Patterns)} in '{root}'.");
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var images = files.Select(f =>
        {
            var relative = Path.GetRelativePath(root, f).Replace('\\', '/');
            var folder = Path.GetDirectoryName(relative)?.Replace('\\', '/');
            var id = string.IsNullOrEmpty(folder) ? ImageIds.FromPath(relative) : $"{folder}/{ImageIds.FromPath(relative)}";
            if (!seen.TryAdd(id, relative))
                throw new InvalidDataException($"Image folder '{root}': '{seen[id]}' and '{relative}' have the same image id '{id}' (the id is the file name without extension); rename one.");
            var image = ImageRef.FromFile(id, f);
            return options.Prompt is null ? image : image.WithTags(new Dictionary<string, string> { ["prompt"] = options.Prompt });
        }).ToList();
        var table = new DataTable("images") { Source = root, Caption = $"{images.Count} image(s) from {root}" }
            .Add("image_id", images.Select(i => (string?)i.Id).ToArray())
            .Add("path", files.Select(f => (string?)f).ToArray());
        return Task.FromResult(new DatasetContent(images, table, "image_id"));
    }
}
