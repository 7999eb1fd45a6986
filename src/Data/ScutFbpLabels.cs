using System.Globalization;
using BiasBench.Abstractions;

namespace BiasBench.Data;

/// <summary>
/// Reader for SCUT-FBP5500 label files (<c>All_labels.txt</c>, the 60/40 <c>train.txt</c>/<c>test.txt</c> and the
/// 5-fold <c>train_k.txt</c>/<c>test_k.txt</c>): one <c>FILE.jpg score</c> line per image, space separated, LF or CRLF.
/// </summary>
/// <remarks>
/// Output columns: <c>image_id</c> (file name without extension, e.g. <c>AF1</c>), <c>file</c> (as written),
/// <c>beauty</c> (the mean rater score, 1-5 scale) and <c>group</c>: AF/AM/CF/CM (Asian/Caucasian female/male), taken
/// from the file-name prefix as the dataset defines it.
/// </remarks>
public static class ScutFbpLabels
{
    public static readonly IReadOnlyList<string> Groups = ["AF", "AM", "CF", "CM"];

    public static DataTable Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses file contents; <paramref name="source"/> names the file in errors and in the table's Source.</summary>
    public static DataTable Parse(ReadOnlySpan<byte> data, string source)
    {
        var pos = TextLines.StartOffset(data);
        var ids = new List<string?>();
        var files = new List<string?>();
        var groups = new List<string?>();
        var scores = new List<double>();
        var firstLine = new Dictionary<string, int>(StringComparer.Ordinal);
        var lineNo = 0;

        while (TextLines.NextLine(data, ref pos, out var line))
        {
            lineNo++;
            if (TextLines.IsBlank(line)) continue;
            var i = 0;
            TextLines.NextToken(line, ref i, out var s, out var n);
            var file = TextLines.Text(line.Slice(s, n));
            var group = GroupOf(file);
            if (group is null)
                throw new DataFormatException(source, lineNo, s + 1,
                    $"file name '{file}' does not start with a SCUT-FBP5500 group prefix (AF, AM, CF or CM followed by a number).");
            if (!firstLine.TryAdd(file, lineNo))
                throw new DataFormatException(source, lineNo, s + 1, $"image '{file}' appears twice (first on line {firstLine[file]}).");

            if (!TextLines.NextToken(line, ref i, out s, out n))
                throw new DataFormatException(source, lineNo, line.Length + 1, $"image '{file}' has no beauty score (expected 'FILE.jpg score').");
            var tok = line.Slice(s, n);
            if (!double.TryParse(tok, NumberStyles.Float, CultureInfo.InvariantCulture, out var score) || !double.IsFinite(score))
                throw new DataFormatException(source, lineNo, s + 1, $"beauty score '{TextLines.Shown(tok)}' of image '{file}' is not a finite number.");
            if (TextLines.NextToken(line, ref i, out s, out n))
                throw new DataFormatException(source, lineNo, s + 1,
                    $"unexpected '{TextLines.Shown(line.Slice(s, n))}' after the score of image '{file}' (expected 'FILE.jpg score').");

            ids.Add(ImageIds.FromPath(file));
            files.Add(file);
            groups.Add(group);
            scores.Add(score);
        }

        var table = new DataTable("scut_fbp5500_labels") { Source = source };
        table.Add("image_id", ids.ToArray()).Add("file", files.ToArray()).Add("beauty", scores.ToArray()).Add("group", groups.ToArray());
        var counts = Groups.Select(g => $"{g} {groups.Count(x => x == g)}");
        table.Caption =
            $"SCUT-FBP5500 labels from {Path.GetFileName(source)}: {scores.Count} images ({string.Join(", ", counts)}); " +
            "beauty = mean rater score (1-5); group from the file-name prefix (A/C = Asian/Caucasian, F/M = female/male); " +
            "image_id = file name without extension.";
        return table;
    }

    /// <summary>AF/AM/CF/CM when the name is that prefix followed by a digit (e.g. <c>AF1.jpg</c>), else null.</summary>
    public static string? GroupOf(string fileName)
    {
        var name = ImageIds.FileName(fileName);
        if (name.Length < 3 || !char.IsAsciiDigit(name[2])) return null;
        foreach (var g in Groups)
            if (name.StartsWith(g, StringComparison.Ordinal)) return g;
        return null;
    }
}
