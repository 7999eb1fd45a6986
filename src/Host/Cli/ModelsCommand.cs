using System.CommandLine;
using BiasBench.Hub;
using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>
/// <c>biasbench models list</c> and <c>biasbench models download NAME|ORG/REPO|PATH</c>: fetch model weights from the
/// Hugging Face hub into the huggingface_hub cache (shared with Python), or describe files already on disk.
/// </summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Hub cache folder (default: HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub)" };

        var list = new Command("list", "The model names 'models download' knows, their files and whether they are cached") { cacheDir };
        list.SetAction((r, ct) => Run(() => Task.FromResult(List(Options(r.GetValue(cacheDir))))));

        var nameArg = new Argument<string>("name") { Description = $"A known name ({string.Join(", ", ModelCatalog.Names)}), a hub repository 'org/name' (with --file), or a local file/folder to describe" };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit (for a known name: of its main repository)" };
        var files = new Option<string[]>("--file", "-f") { Description = "File(s) to fetch: required for 'org/name', a subset for a known name", AllowMultipleArgumentsPerToken = true };
        var localDir = new Option<string?>("--local-dir") { Description = "Write the files into this folder instead of a cache snapshot" };
        var force = new Option<bool>("--force") { Description = "Download again even when cached" };
        var noProgress = new Option<bool>("--no-progress") { Description = "Plain log lines instead of progress bars" };
        var download = new Command("download", "Download a model's files from the Hugging Face hub (HF_TOKEN for gated/private repos, HF_HUB_OFFLINE=1 for cache only)")
        {
            nameArg, revision, files, cacheDir, localDir, force, noProgress,
        };
        download.SetAction((r, ct) => Run(() => Download(
            r.GetValue(nameArg)!, r.GetValue(revision), r.GetValue(files) ?? [], Options(r.GetValue(cacheDir)), r.GetValue(localDir),
            r.GetValue(force), !r.GetValue(noProgress) && AnsiConsole.Profile.Capabilities.Interactive, ct)));

        return new Command("models", "Reward-model weights from the Hugging Face hub") { list, download };
    }

    private static HubOptions Options(string? cacheDir)
    {
        var options = HubOptions.FromEnvironment();
        return cacheDir is null ? options : options with { CacheDirectory = Path.GetFullPath(cacheDir) };
    }

    private static int List(HubOptions options)
    {
        var cache = new HubCache(options.CacheDirectory);
        var table = new Table().AddColumns("Name", "Files", "Cached", "Description");
        foreach (var m in ModelCatalog.All)
        {
            var cached = m.Files.Count(f => cache.TryGetCachedFile(f.RepoId, f.Path, f.Revision) is not null);
            var fileList = string.Join("\n", m.Files.GroupBy(f => f.RepoId).Select(g => $"[bold]{Markup.Escape(g.Key)}[/]: {Markup.Escape(string.Join(", ", g.Select(f => f.Path)))}"));
            var state = cached == m.Files.Count ? "[green]yes[/]" : cached == 0 ? "no" : $"[yellow]{cached}/{m.Files.Count}[/]";
            table.AddRow(new Markup($"[bold]{Markup.Escape(m.Name)}[/]"), new Markup(fileList), new Markup(state),
                new Markup(Markup.Escape(m.Description) + (m.Note is null ? "" : $"\n[grey]{Markup.Escape(m.Note)}[/]")));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Cache: {Markup.Escape(cache.Directory)}. Any other repository: [bold]biasbench models download org/name --file FILE[/].");
        return Program.ExitOk;
    }

    private static async Task<int> Download(string name, string? revision, string[] files, HubOptions options, string? localDir, bool force, bool interactive, CancellationToken ct)
    {
        IReadOnlyList<HubFileRequest> requests;
        // A hub repository that is a known model's main repository fetches that model's files, unless --file says which.
        if (ModelCatalog.Find(name) is { } model && (files.Length == 0 || string.Equals(model.Name, name, StringComparison.OrdinalIgnoreCase)))
        {
            requests = model.Requests(revision, localDir, force);
            if (files.Length > 0)
            {
                var unknown = files.Where(f => requests.All(q => q.Filename != f)).ToList();
                if (unknown.Count > 0)
                    throw new ArgumentException($"{model.Name} has no file {string.Join(", ", unknown)}; its files are {string.Join(", ", requests.Select(q => q.Filename))}.");
                requests = requests.Where(q => files.Contains(q.Filename)).ToList();
            }
            if (model.Note is not null) AnsiConsole.MarkupLine($"[grey]Note: {Markup.Escape(model.Note)}[/]");
        }
        else if (File.Exists(name) || Directory.Exists(name))
        {
            return await DescribeLocal(name, ct);
        }
        else if (name.Contains('/') && HubCache.IsValidRepoId(name))
        {
            if (files.Length == 0)
                throw new ArgumentException($"Say which files of {name} to fetch with --file (e.g. --file config.json --file model.safetensors).");
            requests = files.Select(f => new HubFileRequest(name, f) { Revision = revision ?? HubOptions.DefaultRevision, LocalDirectory = localDir, ForceDownload = force }).ToList();
        }
        else
        {
            throw new ArgumentException($"'{name}' is not a known model ({string.Join(", ", ModelCatalog.Names)}), a hub repository 'org/name', or an existing file or folder.");
        }

        if (options.Offline) AnsiConsole.MarkupLine("[yellow]HF_HUB_OFFLINE is set: using cached files only.[/]");
        using var client = new HubClient(options);
        var results = new List<HubFile>();
        if (interactive)
        {
            await AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn { Width = 24 }, new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                .StartAsync(async context =>
                {
                    var bars = new SpectreBars(context);
                    foreach (var request in requests) results.Add(await client.DownloadAsync(request, bars, ct));
                });
        }
        else
        {
            var lines = new LogLines(requests.Count);
            foreach (var request in requests) results.Add(await client.DownloadAsync(request, lines, ct));
        }

        // Plain lines, not a table: paths are long and must stay copyable (no wrapping at the console width).
        foreach (var f in results)
        {
            var status = f.Source switch
            {
                HubFileSource.Downloaded => f.Verified ? "downloaded, checksum ok" : "downloaded",
                HubFileSource.Cache => "cached",
                _ => "cached (hub not asked)",
            };
            Console.Out.WriteLine($"{f.RepoId}/{f.Filename}  {HubClient.FormatBytes(f.Size)}  {status}");
        }
        foreach (var folder in results.Select(RootFolder).Distinct())
            Console.Out.WriteLine($"Folder: {folder}");
        return Program.ExitOk;
    }

    /// <summary>The snapshot (or local-dir) folder a file lives in: its path minus the repository-relative name.</summary>
    private static string RootFolder(HubFile f)
    {
        var depth = f.Filename.Count(c => c == '/') + 1;
        var dir = f.Path;
        for (var i = 0; i < depth; i++) dir = Path.GetDirectoryName(dir)!;
        return dir;
    }

    private static async Task<int> DescribeLocal(string path, CancellationToken ct)
    {
        var files = await LocalModelFiles.DescribeAsync(path, ct);
        AnsiConsole.MarkupLine($"{Markup.Escape(Path.GetFullPath(path))}: {files.Count} file(s), no download needed.");
        // sha256sum's layout (digest, two spaces, path) with the size in between: wide digests do not fit a table.
        foreach (var f in files) Console.Out.WriteLine($"{f.Sha256}  {HubClient.FormatBytes(f.Size),10}  {f.RelativePath}");
        return Program.ExitOk;
    }

    private static async Task<int> Run(Func<Task<int>> body)
    {
        try { return await body(); }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]Cancelled.[/] Partial downloads are kept (.incomplete) and resume on the next run.");
            return Program.ExitCancelled;
        }
        catch (ArgumentException e)
        {
            AnsiConsole.MarkupLine($"[red]Invalid arguments:[/] {Markup.Escape(e.Message)}");
            return Program.ExitInvalidConfig;
        }
        catch (Exception e) when (e is HubException or IOException or UnauthorizedAccessException)
        {
            AnsiConsole.MarkupLine($"[red]Failed:[/] {Markup.Escape(e.Message)}");
            return Program.ExitFailed;
        }
    }

    /// <summary>One Spectre progress bar per file, created on its first report.</summary>
    private sealed class SpectreBars(ProgressContext context) : IProgress<DownloadProgress>
    {
        private readonly Dictionary<(string, string), ProgressTask> _tasks = new();

        public void Report(DownloadProgress p)
        {
            lock (_tasks)
            {
                // The repository's name without its owner keeps the bar on one line in a narrow terminal.
                var label = Markup.Escape($"{p.RepoId[(p.RepoId.IndexOf('/') + 1)..]}/{p.Filename}");
                if (!_tasks.TryGetValue((p.RepoId, p.Filename), out var task))
                    _tasks[(p.RepoId, p.Filename)] = task = context.AddTask(label, maxValue: 1);
                if (p.TotalBytes is > 0 && p.Stage != DownloadStage.Verifying) task.MaxValue = p.TotalBytes.Value;
                switch (p.Stage)
                {
                    case DownloadStage.Downloading:
                        task.Description = label;
                        task.Value = p.BytesDone;
                        break;
                    case DownloadStage.Verifying:
                        task.Description = $"{label} [grey](verifying)[/]";
                        break;
                    case DownloadStage.Cached:
                        task.Description = $"{label} [grey](cached)[/]";
                        task.Value = task.MaxValue;
                        task.StopTask();
                        break;
                    case DownloadStage.Completed:
                        task.Description = label;
                        task.Value = task.MaxValue;
                        task.StopTask();
                        break;
                }
                if (p.Message is not null) AnsiConsole.MarkupLine($"[yellow]{label}:[/] {Markup.Escape(p.Message)}");
            }
        }
    }

    /// <summary>Non-interactive output: a line per stage and per 10% of each download.</summary>
    private sealed class LogLines(int count) : IProgress<DownloadProgress>
    {
        private readonly Dictionary<(string, string), int> _lastDecile = new();
        private int _index;

        public void Report(DownloadProgress p)
        {
            lock (_lastDecile)
            {
                var key = (p.RepoId, p.Filename);
                var name = $"{p.RepoId}/{p.Filename}";
                if (!_lastDecile.ContainsKey(key)) { _lastDecile[key] = -1; _index++; }
                var prefix = $"[{_index}/{count}] {name}";
                if (p.Message is not null) Console.Out.WriteLine($"{prefix}: {p.Message}");
                switch (p.Stage)
                {
                    case DownloadStage.Downloading when p.Fraction is { } f:
                        var decile = (int)(f * 10);
                        if (decile > _lastDecile[key])
                        {
                            _lastDecile[key] = decile;
                            Console.Out.WriteLine($"{prefix}: {decile * 10}% ({HubClient.FormatBytes(p.BytesDone)} of {HubClient.FormatBytes(p.TotalBytes!.Value)})");
                        }
                        break;
                    case DownloadStage.Verifying when p.BytesDone == 0:
                        Console.Out.WriteLine($"{prefix}: verifying checksum");
                        break;
                    case DownloadStage.Cached:
                        Console.Out.WriteLine($"{prefix}: cached ({HubClient.FormatBytes(p.BytesDone)})");
                        break;
                    case DownloadStage.Completed:
                        Console.Out.WriteLine($"{prefix}: done ({HubClient.FormatBytes(p.BytesDone)})");
                        break;
                }
            }
        }
    }
}
