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

    /// <summary>Tags attached to every image and added as columns (e.g. <c>generator: SDXL</c>).</summary>
    public Dictionary<string, string>? Tags { get; set; }

    /// <summary>
    /// Regular expression matched against each file name; its named groups become tags and columns, e.g.
    /// <c>^(?&lt;seed&gt;\d+)_(?&lt;condition&gt;[a-z]+)\.</c> for the hackathon's <c>12_attractive.jpg</c>. A file that
    /// does not match is an error naming it.
    /// </summary>
    public string? NamePattern { get; set; }
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
        System.Text.RegularExpressions.Regex? pattern = null;
        if (options.NamePattern is { Length: > 0 } p)
        {
            try { pattern = new System.Text.RegularExpressions.Regex(p, System.Text.RegularExpressions.RegexOptions.CultureInvariant); }
            catch (ArgumentException e) { throw new ArgumentException($"name_pattern '{p}' is not a valid regular expression: {e.Message}", e); }
        }
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var images = files.Select(f =>
        {
            var relative = Path.GetRelativePath(root, f).Replace('\\', '/');
            var folder = Path.GetDirectoryName(relative)?.Replace('\\', '/');
            var id = string.IsNullOrEmpty(folder) ? ImageIds.FromPath(relative) : $"{folder}/{ImageIds.FromPath(relative)}";
            if (!seen.TryAdd(id, relative))
                throw new InvalidDataException($"Image folder '{root}': '{seen[id]}' and '{relative}' have the same image id '{id}' (the id is the file name without extension); rename one.");
            var tags = new Dictionary<string, string>(options.Tags ?? new Dictionary<string, string>(), StringComparer.Ordinal);
            if (options.Prompt is not null) tags["prompt"] = options.Prompt;
            if (pattern is not null)
            {
                var m = pattern.Match(Path.GetFileName(f));
                if (!m.Success) throw new InvalidDataException($"Image '{f}' does not match name_pattern '{options.NamePattern}'.");
                foreach (var g in pattern.GetGroupNames().Where(g => !int.TryParse(g, out _)))
                    if (m.Groups[g].Success) tags[g] = m.Groups[g].Value;
            }
            var image = ImageRef.FromFile(id, f);
            return tags.Count == 0 ? image : image.WithTags(tags);
        }).ToList();
        var table = new DataTable("images") { Source = root, Caption = $"{images.Count} image(s) from {root}" }
            .Add("image_id", images.Select(i => (string?)i.Id).ToArray())
            .Add("path", files.Select(f => (string?)f).ToArray());
        foreach (var tag in images.SelectMany(i => i.Tags.Keys).Distinct().Where(t => t is not ("image_id" or "path" or "prompt")).Order())
            table.Add(tag, images.Select(i => i.Tags.GetValueOrDefault(tag)).ToArray());
        return Task.FromResult(new DatasetContent(images, table, "image_id"));
    }
}
