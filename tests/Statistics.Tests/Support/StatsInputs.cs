using System.Globalization;
using System.Text.Json;
using BiasBench.TestSupport;

namespace BiasBench.Statistics.Tests.Support;

/// <summary>
/// Small local readers for the statistics fixture inputs (the real parsers live in BiasBench.Data, owned elsewhere).
/// Every reader fails with the file and line of malformed input.
/// </summary>
internal static class StatsInputs
{
    public const string ExpectedJson = "stats/expected_stats.json";

    public static JsonElement Expected() => Fixtures.Json(ExpectedJson).RootElement;

    /// <summary>A numeric table read from a CSV with a header; non-numeric columns listed in <paramref name="skip"/> are ignored.</summary>
    public static Dictionary<string, double[]> ReadNumericCsv(string path, params string[] skip)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        var header = SplitCsv(lines[0]);
        var values = header.Select(_ => new double[lines.Length - 1]).ToArray();
        for (int row = 1; row < lines.Length; row++)
        {
            var fields = SplitCsv(lines[row]);
            if (fields.Count != header.Count) throw new FormatException($"{path}:{row + 1}: expected {header.Count} fields, got {fields.Count}.");
            for (int c = 0; c < header.Count; c++)
            {
                if (skip.Contains(header[c])) continue;
                values[c][row - 1] = ParseDouble(fields[c], path, row + 1);
            }
        }
        var table = new Dictionary<string, double[]>();
        for (int c = 0; c < header.Count; c++)
            if (!skip.Contains(header[c])) table[header[c]] = values[c];
        return table;
    }

    private static readonly Lazy<Dictionary<string, double[]>> CelebaTable =
        new(() => ReadNumericCsv(Fixtures.File("stats/celeba_synthetic_scores.csv"), "image_id"));

    /// <summary>stats/celeba_synthetic_scores.csv: rewards and 0/1 attributes by column name.</summary>
    public static Dictionary<string, double[]> Celeba() => CelebaTable.Value;

    /// <summary>One row of a hackathon score file: seed (leading number of the image file name) and condition.</summary>
    public sealed record HackathonRow(int Seed, double Condition, Dictionary<string, double> Scores);

    /// <summary>hackathon/*_scores.csv: image_path,prompt,attractiveness,reward columns... (CRLF, Windows paths).</summary>
    public static List<HackathonRow> ReadHackathon(string path)
    {
        var lines = File.ReadAllText(path).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();
        var header = SplitCsv(lines[0]);
        int pathCol = header.IndexOf("image_path"), conditionCol = header.IndexOf("attractiveness");
        if (pathCol < 0 || conditionCol < 0) throw new FormatException($"{path}:1: missing image_path/attractiveness columns.");
        var scoreCols = Enumerable.Range(0, header.Count).Where(c => c != pathCol && c != conditionCol && header[c] != "prompt").ToArray();
        var rows = new List<HackathonRow>();
        for (int i = 1; i < lines.Length; i++)
        {
            var fields = SplitCsv(lines[i]);
            if (fields.Count != header.Count) throw new FormatException($"{path}:{i + 1}: expected {header.Count} fields, got {fields.Count}.");
            string file = fields[pathCol].Split('\\', '/').Last(s => s.Length > 0);
            string digits = new(file.TakeWhile(char.IsDigit).ToArray());
            if (digits.Length == 0) throw new FormatException($"{path}:{i + 1}: file name '{file}' does not start with a seed number.");
            rows.Add(new HackathonRow(int.Parse(digits, CultureInfo.InvariantCulture), ParseDouble(fields[conditionCol], path, i + 1),
                scoreCols.ToDictionary(c => header[c], c => ParseDouble(fields[c], path, i + 1))));
        }
        return rows;
    }

    /// <summary>scut_fbp5500/All_labels.txt: 'FILE.jpg score' per line; group = leading letters of the file name (AF/AM/CF/CM).</summary>
    public static List<(string Group, double Score)> ReadScut(string path)
    {
        var result = new List<(string, double)>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) throw new FormatException($"{path}:{lineNo}: expected 'FILE score'.");
            string group = new(parts[0].TakeWhile(char.IsLetter).ToArray());
            result.Add((group, ParseDouble(parts[1], path, lineNo)));
        }
        return result;
    }

    public static List<string> SplitCsv(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else current.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        fields.Add(current.ToString());
        return fields;
    }

    private static double ParseDouble(string text, string path, int line)
        => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v
            : throw new FormatException($"{path}:{line}: '{text}' is not a number.");
}

/// <summary>
/// Collects comparisons against the fixture (1e-6 relative; p-values 1e-6 absolute or relative, whichever is looser),
/// keeps the largest deviations for the test output, and fails listing every mismatch.
/// </summary>
internal sealed class Agreement(ITestOutputHelper output, string title)
{
    public const double Tolerance = 1e-6;
    private readonly List<string> _failures = new();
    private double _maxRelative;
    private string _maxRelativeWhat = "";
    public const double StrictPRelative = 1e-6;
    private double _maxPRelative;
    private string _maxPRelativeWhat = "";
    private double _maxPDiff;
    private string _maxPWhat = "";
    public int Count { get; private set; }

    public void Value(string what, double expected, double actual)
    {
        Count++;
        double diff = Math.Abs(expected - actual);
        double relative = diff / Math.Max(Math.Abs(expected), 1e-300);
        if (expected == 0 && actual == 0) relative = 0;
        if (relative > _maxRelative) { _maxRelative = relative; _maxRelativeWhat = what; }
        if (!(diff <= Tolerance * Math.Abs(expected)) && !(diff == 0))
            _failures.Add($"{what}: expected {expected:R}, got {actual:R} (rel {relative:E2})");
    }

    public void PValue(string what, double expected, double actual)
    {
        Count++;
        double diff = Math.Abs(expected - actual);
        double limit = Tolerance * Math.Max(1.0, Math.Abs(expected));
        double relative = expected == 0 ? (actual == 0 ? 0 : diff) : diff / Math.Abs(expected);
        double score = Math.Min(diff, relative); // the looser of absolute and relative
        if (score > _maxPDiff) { _maxPDiff = score; _maxPWhat = what; }
        if (expected > 0 && relative > _maxPRelative) { _maxPRelative = relative; _maxPRelativeWhat = what; }
        // Stricter than the fixture's rule: tiny p-values must keep their relative precision too (no 1 - cdf).
        if (expected >= 1e-300 && relative > StrictPRelative)
            _failures.Add($"{what}: p {actual:R} lost relative precision against {expected:R} (rel {relative:E2})");
        if (!(diff <= limit) && !(relative <= Tolerance))
            _failures.Add($"{what}: expected p {expected:R}, got {actual:R} (abs {diff:E2}, rel {relative:E2})");
    }

    public void Check()
    {
        output.WriteLine($"{title}: {Count} comparisons; max relative diff {_maxRelative:E2} ({_maxRelativeWhat}); " +
            $"max p diff (looser of abs/rel) {_maxPDiff:E2} ({_maxPWhat}); max p relative diff {_maxPRelative:E2} ({_maxPRelativeWhat}).");
        Assert.True(Count > 0, $"{title}: nothing was compared.");
        Assert.True(_failures.Count == 0, $"{title}: {_failures.Count} mismatches:\n" + string.Join("\n", _failures.Take(40)));
    }
}
