using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.RegularExpressions;
using BiasBench.Abstractions;
using BiasBench.Data;

namespace BiasBench.Plugins.Datasets;

public sealed class HackathonScoresOptions
{
    /// <summary>The hackathon's scores.csv (image_path, prompt, attractiveness, then one column per reward model).</summary>
    [Required] public string? Path { get; set; }

    /// <summary>Label for the generator that made the images (e.g. SDXL), added as a column.</summary>
    public string? Generator { get; set; }

    /// <summary>Optional folder with the images named in image_path (matched by file name), to score them again.</summary>
    public string? ImagesDirectory { get; set; }
}

/// <summary>
/// The AI Manipulation Hackathon score tables as they are: CRLF, Windows paths with doubled backslashes in
/// image_path, `attractiveness` 0/1/2 for the unattractive/neutral/attractive prompt variant. Adds image_id
/// (file name without extension, as for every dataset), seed (its leading number) and condition (from the file name), and checks they agree with
/// `attractiveness`.
/// </summary>
public sealed partial class HackathonScoresDataset(HackathonScoresOptions options) : IDataset
{
    public static readonly IReadOnlyDictionary<string, int> ConditionLevels = new Dictionary<string, int>
    {
        ["unattractive"] = 0, ["normal"] = 1, ["attractive"] = 2,
    };

    [GeneratedRegex(@"^(?<seed>\d+)_(?<condition>[A-Za-z]+)\.[A-Za-z]+$")]
    private static partial Regex FileNamePattern();

    public string Name => "hackathon-scores";

    public Task<DatasetContent> LoadAsync(CancellationToken cancellationToken)
    {
        var path = options.Path!;
        var rows = CsvFile.Read(path);
        if (rows.Count < 2) throw new InvalidDataException($"{path}: no data rows.");
        var header = rows[0].Fields;
        int Col(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i
            : throw new InvalidDataException($"{path}:1: missing column '{name}' (columns: {string.Join(", ", header)}).");
        var pathCol = Col("image_path");
        var promptCol = Col("prompt");
        var attrCol = Col("attractiveness");
        var scoreCols = Enumerable.Range(0, header.Length).Where(i => i != pathCol && i != promptCol && i != attrCol).ToList();

        var n = rows.Count - 1;
        var ids = new string?[n]; var files = new string?[n]; var prompts = new string?[n]; var conditions = new string?[n]; var paths = new string?[n];
        var seeds = new double[n]; var attractiveness = new double[n];
        var scores = scoreCols.Select(_ => new double[n]).ToArray();
        for (var r = 0; r < n; r++)
        {
            var row = rows[r + 1];
            if (row.Fields.Length != header.Length)
                throw new InvalidDataException($"{path}:{row.Line}: expected {header.Length} fields, found {row.Fields.Length}.");
            // Windows paths written by pandas: 'C:\\Users\\...\\12_attractive.jpg'.
            var raw = row.Fields[pathCol];
            var fileName = raw.Split('\\', '/').Last(s => s.Length > 0);
            var m = FileNamePattern().Match(fileName);
            if (!m.Success)
                throw new InvalidDataException($"{path}:{row.Line}: image_path '{raw}' does not end in '<seed>_<condition>.<ext>'.");
            ids[r] = ImageIds.FromPath(fileName); // '12_attractive.jpg' -> '12_attractive', like every other table
            files[r] = fileName;
            paths[r] = raw;
            seeds[r] = double.Parse(m.Groups["seed"].Value, CultureInfo.InvariantCulture);
            conditions[r] = m.Groups["condition"].Value.ToLowerInvariant();
            prompts[r] = row.Fields[promptCol];
            attractiveness[r] = ParseNumber(row.Fields[attrCol], path, row.Line, "attractiveness");
            if (ConditionLevels.TryGetValue(conditions[r]!, out var level) && level != attractiveness[r])
                throw new InvalidDataException($"{path}:{row.Line}: file name says '{conditions[r]}' but attractiveness is {attractiveness[r]}.");
            for (var k = 0; k < scoreCols.Count; k++)
                scores[k][r] = ParseNumber(row.Fields[scoreCols[k]], path, row.Line, header[scoreCols[k]]);
        }

        var table = new DataTable(System.IO.Path.GetFileNameWithoutExtension(path)) { Source = path, Caption = $"{n} rows from {path}" };
        table.Add("image_id", ids).Add("seed", seeds).Add("condition", conditions).Add("attractiveness", attractiveness).Add("prompt", prompts);
        if (options.Generator is { } g) table.Add("generator", Enumerable.Repeat<string?>(g, n).ToArray());
        for (var k = 0; k < scoreCols.Count; k++) table.Add(header[scoreCols[k]], scores[k]);
        table.Add("image_path", paths);

        var images = new List<ImageRef>();
        if (options.ImagesDirectory is { } dir)
        {
            for (var r = 0; r < n; r++)
            {
                var file = System.IO.Path.Combine(dir, files[r]!);
                if (!File.Exists(file)) throw new FileNotFoundException($"{path}:{r + 2}: image '{files[r]}' not found in {dir}.", file);
                images.Add(ImageRef.FromFile(ids[r]!, file).WithTags(new Dictionary<string, string>
                {
                    ["prompt"] = prompts[r]!, ["condition"] = conditions[r]!, ["seed"] = seeds[r].ToString(CultureInfo.InvariantCulture),
                }));
            }
        }
        return Task.FromResult(new DatasetContent(images, table, "image_id"));
    }

    private static double ParseNumber(string text, string path, int line, string column) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v
            : throw new InvalidDataException($"{path}:{line}: column '{column}' has '{text}', not a number.");
}
