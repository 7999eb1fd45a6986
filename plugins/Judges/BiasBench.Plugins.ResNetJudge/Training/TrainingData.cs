using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Data;
using BiasBench.Training;

namespace BiasBench.Plugins.ResNetJudge.Training;

/// <summary>One labelled image.</summary>
public sealed record Example(string Id, string Path, int Label, DataSplit Split, IReadOnlyDictionary<string, string> Groups);

/// <summary>The labelled images of a training run, split into train / validation / test, and how the split was made.</summary>
public sealed record TrainingData(IReadOnlyList<Example> Examples, string SplitDescription, IReadOnlyList<string> GroupColumns, IReadOnlyList<string> Notes)
{
    public IReadOnlyList<Example> Of(DataSplit split) => Examples.Where(e => e.Split == split).ToList();

    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".webp"];
    private static readonly string[] DefaultGroups = ["Male", "Young", "gender"];

    /// <summary>Reads labels and images, joins them by id, labels them 0/1 and splits them (official partition or seeded stratified).</summary>
    public static TrainingData Load(TrainerOptions o, int seed)
    {
        var notes = new List<string>();
        var (table, source) = ReadLabels(o);
        if (!table.Contains(o.LabelColumn))
            throw new InvalidDataException($"{source}: no label column '{o.LabelColumn}' (columns: {string.Join(", ", table.Columns.Select(c => c.Name).Take(50))}).");
        var idColumn = o.AttributesFile is not null ? "image_id" : o.IdColumn;
        if (!table.Contains(idColumn))
            throw new InvalidDataException($"{source}: no id column '{idColumn}' (set id_column; columns: {string.Join(", ", table.Columns.Select(c => c.Name).Take(50))}).");
        var ids = table[idColumn];
        var labelColumn = table[o.LabelColumn];
        var positive = o.PositiveValues?.Select(v => v.Trim()).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (labelColumn is TextColumn && positive is null)
            throw new InvalidDataException($"{source}: label column '{o.LabelColumn}' is text; set positive_values to say which values are positive.");
        var groups = (o.GroupColumns ?? DefaultGroups.Where(table.Contains).ToList()).ToList();
        foreach (var g in groups)
            if (!table.Contains(g)) throw new InvalidDataException($"{source}: no group column '{g}'.");

        var images = ImageFiles(o.ImagesDirectory!);
        var examples = new List<(string Id, string Path, int Label, Dictionary<string, string> Groups)>();
        int missingImages = 0, missingLabels = 0;
        string? firstMissing = null;
        for (var r = 0; r < table.RowCount; r++)
        {
            var raw = ids.FormatCell(r);
            if (raw is null) continue;
            var id = ImageIds.FromPath(raw);
            if (!images.TryGetValue(id, out var path)) { missingImages++; firstMissing ??= raw; continue; }
            int? label = ToLabel(labelColumn, r, positive, source);
            if (label is null) { missingLabels++; continue; }
            examples.Add((id, path, label.Value, groups.ToDictionary(g => g, g => table[g].FormatCell(r) ?? "missing")));
        }
        if (examples.Count == 0)
            throw new InvalidDataException($"No labelled image found: none of the {table.RowCount} ids in {source} (e.g. '{firstMissing}') names one of the {images.Count} images in {o.ImagesDirectory}.");
        if (missingImages > 0) notes.Add($"{missingImages} labelled row(s) have no image in {o.ImagesDirectory} (e.g. '{firstMissing}') and were left out.");
        if (missingLabels > 0) notes.Add($"{missingLabels} image(s) have a missing label and were left out.");
        examples.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        if (o.Limit is { } limit && examples.Count > limit) examples = examples.Take(limit).ToList();

        var partitionPath = o.PartitionFile ?? (o.AttributesFile is { } attr && File.Exists(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(attr)!, CelebAPartition.FileName))
            ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(attr)!, CelebAPartition.FileName) : null);
        DataSplit[] splits;
        string description;
        if (partitionPath is not null)
        {
            var partition = CelebAPartition.Read(partitionPath);
            var unlisted = examples.Count(e => !partition.ContainsKey(e.Id));
            if (unlisted == examples.Count)
                throw new InvalidDataException($"{partitionPath}: lists none of the {examples.Count} labelled images (e.g. '{examples[0].Id}'); CelebA-HQ images need CelebA's names or a seeded split (omit partition_file).");
            if (unlisted > 0) notes.Add($"{unlisted} image(s) are not in {partitionPath} and were left out.");
            examples = examples.Where(e => partition.ContainsKey(e.Id)).ToList();
            splits = examples.Select(e => partition[e.Id]).ToArray();
            description = $"official partition {System.IO.Path.GetFileName(partitionPath)}";
        }
        else
        {
            splits = StratifiedSplit(examples.Select(e => e.Label).ToArray(), o.ValidationFraction, o.TestFraction, seed);
            description = $"seeded stratified split (seed {seed}, validation {o.ValidationFraction:P0}, test {o.TestFraction:P0})";
        }
        var list = examples.Select((e, i) => new Example(e.Id, e.Path, e.Label, splits[i], e.Groups)).ToList();
        if (!list.Any(e => e.Split == DataSplit.Train)) throw new InvalidDataException("The training split is empty.");
        if (!list.Any(e => e.Split == DataSplit.Validation)) throw new InvalidDataException("The validation split is empty (raise validation_fraction or use a partition file).");
        return new TrainingData(list, description, groups, notes);
    }

    /// <summary>Per class, a seeded permutation; the first round(n * test) go to test, the next round(n * val) to validation.</summary>
    public static DataSplit[] StratifiedSplit(int[] labels, double validation, double test, int seed)
    {
        var result = new DataSplit[labels.Length];
        foreach (var cls in labels.Distinct().Order())
        {
            var members = Enumerable.Range(0, labels.Length).Where(i => labels[i] == cls).ToArray();
            var order = Seeding.Permutation(members.Length, Seeding.Random(seed, 7001, cls));
            var nTest = (int)Math.Round(members.Length * test, MidpointRounding.AwayFromZero);
            var nVal = (int)Math.Round(members.Length * validation, MidpointRounding.AwayFromZero);
            for (var k = 0; k < order.Length; k++)
                result[members[order[k]]] = k < nTest ? DataSplit.Test : k < nTest + nVal ? DataSplit.Validation : DataSplit.Train;
        }
        return result;
    }

    private static int? ToLabel(DataColumn column, int row, HashSet<string>? positive, string source)
    {
        if (column is NumericColumn n)
        {
            var v = n[row];
            if (double.IsNaN(v)) return null;
            if (positive is not null) return positive.Contains(v.ToString("R", CultureInfo.InvariantCulture)) ? 1 : 0;
            return v switch
            {
                1 => 1,
                0 or -1 => 0,
                _ => throw new InvalidDataException($"{source}: row {row + 1}: label {v} is not 0/1 or -1/+1; set positive_values to binarise it."),
            };
        }
        var text = column.FormatCell(row);
        return text is null ? null : positive!.Contains(text.Trim()) ? 1 : 0;
    }

    private static (DataTable Table, string Source) ReadLabels(TrainerOptions o)
    {
        if ((o.AttributesFile is null) == (o.LabelsFile is null))
            throw new ArgumentException("Set exactly one of attributes_file (CelebA-style) and labels_file (a score table).");
        if (o.AttributesFile is { } attributes) return (CelebAAttributes.Read(attributes, allowPartial: true), attributes);
        var path = o.LabelsFile!;
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        var table = ext switch
        {
            ".json" => JsonRecords.Read(path),
            ".parquet" => ParquetTable.ReadAsync(path).GetAwaiter().GetResult(),
            _ => CsvTable.Read(path, new CsvReadOptions { TextColumns = [o.IdColumn] }),
        };
        return (table, path);
    }

    private static Dictionary<string, string> ImageFiles(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"Image folder '{directory}' does not exist.");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (!ImageExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant())) continue;
            var id = ImageIds.FromPath(f);
            if (!files.TryAdd(id, f))
                throw new InvalidDataException($"Two images share the id '{id}': {files[id]} and {f}.");
        }
        return files;
    }
}
