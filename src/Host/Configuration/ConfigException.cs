namespace BiasBench.Host.Configuration;

/// <summary>A location in a config file (1-based line and column).</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}:{Column}" : File;
}

/// <summary>One problem found in a config, with where it is.</summary>
public sealed record ConfigProblem(SourceLocation Location, string Message)
{
    public override string ToString() => $"{Location}: {Message}";
}

/// <summary>
/// Thrown when a config is invalid; lists every problem found, each with file, line and column (each once, in file
/// order). <see cref="Partial"/> holds what could be read despite the problems (for further checks, never to run).
/// </summary>
public sealed class ConfigException(IReadOnlyList<ConfigProblem> problems, ExperimentConfig? partial = null)
    : Exception(string.Join(Environment.NewLine, Distinct(problems).Select(p => p.ToString())))
{
    public IReadOnlyList<ConfigProblem> Problems { get; } = Distinct(problems);

    public ExperimentConfig? Partial { get; } = partial;

    private static IReadOnlyList<ConfigProblem> Distinct(IReadOnlyList<ConfigProblem> problems) =>
        problems.Distinct().OrderBy(p => p.Location.File, StringComparer.Ordinal).ThenBy(p => p.Location.Line).ThenBy(p => p.Location.Column).ToList();

    public ConfigException(SourceLocation location, string message) : this([new ConfigProblem(location, message)]) { }
}

internal static class NearestName
{
    /// <summary>" (did you mean 'x'?)" when a candidate is close enough to be a plausible typo.</summary>
    public static string Suggest(string given, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            var d = Levenshtein(given.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance) { bestDistance = d; best = c; }
        }
        if (best is null) return "";
        var threshold = Math.Max(2, Math.Min(given.Length, best.Length) / 3);
        return bestDistance <= threshold ? $" (did you mean '{best}'?)" : $" (valid: {string.Join(", ", candidates.Order())})";
    }

    private static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
