using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;

namespace BiasBench.Host.Runs;

/// <summary>
/// One run's folder: runs/&lt;experiment&gt;-&lt;UTC time&gt;/ with manifest.json, tables/ (CSV, Parquet, Markdown),
/// figures/ (PNG, SVG), images/, report.md, report.html and run.log. The manifest is rewritten after every stage,
/// so a killed run still says what it finished.
/// </summary>
public sealed class RunStore
{
    private readonly object _gate = new();

    private RunStore(string directory, string runId)
    {
        Directory = directory;
        RunId = runId;
        System.IO.Directory.CreateDirectory(TablesDirectory);
        System.IO.Directory.CreateDirectory(FiguresDirectory);
    }

    public string Directory { get; }
    public string RunId { get; }
    public string TablesDirectory => Path.Combine(Directory, "tables");
    public string FiguresDirectory => Path.Combine(Directory, "figures");
    public string ImagesDirectory => Path.Combine(Directory, "images");
    public string LogFile => Path.Combine(Directory, "run.log");
    public string ManifestFile => Path.Combine(Directory, "manifest.json");
    public JsonObject Manifest { get; } = new();

    public static RunStore Create(string runsRoot, string experiment, DateTime utcNow)
    {
        var stamp = utcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var baseName = $"{experiment}-{stamp}";
        var dir = Path.Combine(Path.GetFullPath(runsRoot), baseName);
        // Two runs started in the same second get distinct folders.
        for (var i = 2; System.IO.Directory.Exists(dir); i++) dir = Path.Combine(Path.GetFullPath(runsRoot), $"{baseName}-{i}");
        System.IO.Directory.CreateDirectory(dir);
        var store = new RunStore(dir, Path.GetFileName(dir));
        RunLocks.Write(dir); // before the first manifest, so a 'running' manifest always has its lock while the run lives
        return store;
    }

    /// <summary>Opens (creating if needed) the run folder at <paramref name="directory"/>: a named run (--run-id), a
    /// shard's folder that a rerun of the shard continues, or the folder a merge writes into.</summary>
    public static RunStore At(string directory, string? runId = null)
    {
        var dir = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(dir);
        var store = new RunStore(dir, runId ?? Path.GetFileName(dir));
        RunLocks.Write(dir);
        return store;
    }

    /// <summary>Removes run.lock: the run has ended (completed, failed or cancelled).</summary>
    public void ReleaseLock() => RunLocks.Release(Directory);

    /// <summary>Writes a table as CSV, Parquet and Markdown; returns the file paths relative to the run folder.</summary>
    public IReadOnlyList<string> WriteTable(DataTable table, string stageId)
    {
        table = SecretValues.Redact(table);
        var baseName = SafeFileName(table.Name == stageId || table.Name.StartsWith(stageId + "-") ? table.Name : $"{stageId}-{table.Name}");
        var stem = Path.Combine(TablesDirectory, baseName);
        TableFiles.WriteCsv(table, stem + ".csv");
        TableFiles.WriteParquet(table, stem + ".parquet");
        File.WriteAllText(stem + ".md", TableFiles.ToMarkdown(table));
        return [Relative(stem + ".csv"), Relative(stem + ".parquet"), Relative(stem + ".md")];
    }

    public IReadOnlyList<string> WriteFigure(Figure figure, string stageId)
    {
        var stem = Path.Combine(FiguresDirectory, SafeFileName($"{stageId}-{figure.Name}"));
        var written = new List<string>();
        File.WriteAllBytes(stem + ".png", figure.Png);
        written.Add(Relative(stem + ".png"));
        if (figure.Svg is not null)
        {
            File.WriteAllText(stem + ".svg", SecretValues.Redact(figure.Svg));
            written.Add(Relative(stem + ".svg"));
        }
        return written;
    }

    public void SaveManifest()
    {
        lock (_gate)
        {
            var tmp = ManifestFile + ".tmp";
            File.WriteAllText(tmp, SecretValues.Redact(Manifest)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.Move(tmp, ManifestFile, overwrite: true);
        }
    }

    public string Relative(string path) => Path.GetRelativePath(Directory, path).Replace('\\', '/');

    public static string SafeFileName(string name)
    {
        var invalid = Path.GetInvalidFileNameChars().Concat(['[', ']', '=', ',', ' ', ':']).ToHashSet();
        var chars = name.Select(c => invalid.Contains(c) ? '_' : c).ToArray();
        return new string(chars).Trim('_');
    }
}
