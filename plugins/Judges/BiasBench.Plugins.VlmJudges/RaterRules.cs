using System.Globalization;
using System.Text;

namespace BiasBench.Plugins.VlmJudges;

public sealed record RaterOption(string Option, int Score, string Description);

public sealed record RaterDimension(string Name, IReadOnlyList<RaterOption> Options)
{
    /// <summary>Column-safe name: lower case, non-alphanumerics as '_'.</summary>
    public string Slug => new string(Name.Trim().ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '_').ToArray()).Trim('_');

    public IReadOnlyList<int> Scores => Options.Select(o => o.Score).Distinct().Order().ToList();
}

/// <summary>A rules table as the VisionReward-style rater ships it: CSV with Dimension, Option, Score, Description.</summary>
public sealed class RaterRules(IReadOnlyList<RaterDimension> dimensions)
{
    public IReadOnlyList<RaterDimension> Dimensions { get; } = dimensions;

    public static RaterRules Load(string path)
    {
        var rows = ReadCsv(File.ReadAllText(path));
        if (rows.Count < 2) throw new InvalidDataException($"{path}: the rules table has no rows (expected a header Dimension,Option,Score,Description).");
        var header = rows[0].Fields.Select(h => h.Trim().TrimStart('\uFEFF')).ToArray();
        int Col(string name) => Array.FindIndex(header, h => h.Equals(name, StringComparison.OrdinalIgnoreCase)) is var i and >= 0 ? i
            : throw new InvalidDataException($"{path}:1: missing column '{name}' (columns: {string.Join(", ", header)}).");
        int dim = Col("Dimension"), opt = Col("Option"), score = Col("Score"), desc = Col("Description");
        var order = new List<string>();
        var byName = new Dictionary<string, List<RaterOption>>(StringComparer.Ordinal);
        foreach (var (line, f) in rows.Skip(1))
        {
            if (f.All(string.IsNullOrWhiteSpace)) continue;
            if (f.Length != header.Length) throw new InvalidDataException($"{path}:{line}: expected {header.Length} fields, found {f.Length}.");
            var name = f[dim].Trim();
            if (name.Length == 0) throw new InvalidDataException($"{path}:{line}: empty Dimension.");
            if (!int.TryParse(f[score].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) || s < 0 || s > 9)
                throw new InvalidDataException($"{path}:{line}: Score '{f[score]}' must be a single digit 0-9 (the answer token).");
            if (!byName.TryGetValue(name, out var list)) { byName[name] = list = []; order.Add(name); }
            list.Add(new RaterOption(f[opt].Trim(), s, f[desc].Trim()));
        }
        if (order.Count == 0) throw new InvalidDataException($"{path}: the rules table has no rows.");
        return new RaterRules(order.Select(n => new RaterDimension(n, byName[n])).ToList());
    }

    /// <summary>RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks. Returns rows with their first line number.</summary>
    private static List<(int Line, string[] Fields)> ReadCsv(string text)
    {
        var rows = new List<(int, string[])>();
        var fields = new List<string>();
        var sb = new StringBuilder();
        var line = 1; var start = 1; var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { sb.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { if (c == '\n') line++; sb.Append(c); }
                continue;
            }
            switch (c)
            {
                case '"': quoted = true; break;
                case ',': fields.Add(sb.ToString()); sb.Clear(); break;
                case '\r': break;
                case '\n':
                    fields.Add(sb.ToString()); sb.Clear();
                    rows.Add((start, fields.ToArray())); fields.Clear();
                    line++; start = line;
                    break;
                default: sb.Append(c); break;
            }
        }
        if (sb.Length > 0 || fields.Count > 0) { fields.Add(sb.ToString()); rows.Add((start, fields.ToArray())); }
        return rows;
    }
}
