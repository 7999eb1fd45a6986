using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using BiasBench.Host.Cli;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace BiasBench.Host;

public static class Program
{
    public const int ExitOk = 0, ExitFailed = 1, ExitInvalidConfig = 2, ExitShardsNotReady = 3, ExitCancelled = 130;

    public static Task<int> Main(string[] args)
    {
        ConsoleWidth.Apply(AnsiConsole.Console);
        // On Ctrl-C the command's token is cancelled; give the run time to record 'cancelled' and write its report.
        return BuildCommandLine().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });
    }

    public static RootCommand BuildCommandLine()
    {
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:N or auto (default: the config's device, else auto)", DefaultValueFactory = _ => "auto", Recursive = true };
        var pluginDirs = new Option<string[]>("--plugins") { Description = "Extra plugin directories (also: BIASBENCH_PLUGIN_PATH)", Recursive = true, AllowMultipleArgumentsPerToken = true };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging", Recursive = true };
        var runsDir = new Option<string?>("--runs-dir") { Description = "Where run folders are created (default: ./runs or the config's runs_dir)" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Result cache (default: <runs-dir>/.cache or BIASBENCH_CACHE)" };
        var noProgress = new Option<bool>("--no-progress") { Description = "Plain log lines instead of progress bars" };
        var configArg = new Argument<FileInfo>("config") { Description = "Experiment YAML file" };
        var devices = new Option<string?>("--devices") { Description = "One worker per device for expensive stages: all, or e.g. cuda:0,cuda:1 (items spread by content hash)" };
        var shard = new Option<string?>("--shard") { Description = "K/N: compute shard K (from 0) of N of every expensive stage; 'biasbench merge' assembles the shards" };
        var runId = new Option<string?>("--run-id") { Description = "Name of the run folder (shards of one run share it; default for shards: experiment + config fingerprint)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print how many requests the config's hosted-model stages would send, then stop (nothing is sent)" };
        var endpoint = new Option<string?>("--endpoint") { Description = "Base URL replacing the endpoint of every hosted-model component (e.g. a local server)" };

        var root = new RootCommand("BiasBench: do the models we use to judge images reward beauty instead of quality?");
        root.Options.Add(device); root.Options.Add(pluginDirs); root.Options.Add(verbose);

        HostSettings Settings(ParseResult r) => new()
        {
            Device = r.GetValue(device) ?? "auto",
            PluginDirectories = (r.GetValue(pluginDirs) ?? []).Select(Path.GetFullPath).ToList(),
            RunsDirectory = r.GetValue(runsDir) is { } rd ? Path.GetFullPath(rd) : null,
            CacheDirectory = r.GetValue(cacheDir) is { } cd ? Path.GetFullPath(cd) : null,
            Devices = r.GetValue(devices), Shard = r.GetValue(shard), RunId = r.GetValue(runId),
        };

        var run = new Command("run", "Run an experiment") { configArg, runsDir, cacheDir, noProgress, dryRun, endpoint, devices, shard, runId };
        run.SetAction((r, ct) => Guarded(async () =>
        {
            var (config, problems) = LoadConfig(r.GetValue(configArg)!.FullName);
            await using var app = await BiasBenchApp.StartAsync(Settings(r), ResolvePluginPaths(config), r.GetValue(verbose));
            var plan = app.Plan(config, problems);
            RemoteApis.ApplyEndpoint(plan, r.GetValue(endpoint));
            if (r.GetValue(dryRun))
            {
                RemoteApis.Print(AnsiConsole.Console, config, await RemoteApis.CountAsync(app, config, plan, ct));
                return ExitOk;
            }
            if (RemoteApis.MissingKeys(plan) is { Count: > 0 } missing)
            {
                AnsiConsole.MarkupLine($"[red]Missing API key(s); nothing was run:[/]");
                foreach (var m in missing) AnsiConsole.MarkupLine($"  [red]{Markup.Escape(m)}[/]");
                return ExitInvalidConfig;
            }
            var interactive = !r.GetValue(noProgress) && AnsiConsole.Profile.Capabilities.Interactive;
            try
            {
                var (store, outputs) = await app.RunAsync(config, plan, interactive, ct);
                PrintSummary(store, outputs);
                return ExitOk;
            }
            catch (OperationCanceledException)
            {
                AnsiConsole.MarkupLine("[yellow]Cancelled.[/] Finished items are cached; run the same command again to resume.");
                return ExitCancelled;
            }
        }));

        var validate = new Command("validate", "Check a config against the installed plugins without running it") { configArg };
        validate.SetAction((r, ct) => Guarded(async () =>
        {
            var (config, problems) = LoadConfig(r.GetValue(configArg)!.FullName);
            await using var app = await BiasBenchApp.StartAsync(Settings(r), ResolvePluginPaths(config), r.GetValue(verbose));
            var missingWeights = new List<string>();
            var plan = app.Plan(config, problems, missingWeights);
            AnsiConsole.MarkupLine($"[green]{Markup.Escape(config.FilePath)} is valid[/]: experiment '{Markup.Escape(config.Experiment)}', {plan.Count} stage(s).");
            foreach (var s in plan)
                AnsiConsole.MarkupLine($"  {Markup.Escape(s.Config.Id)} ({s.Config.Kind.ToString().ToLowerInvariant()}): {Markup.Escape(string.Join(", ", s.Components.Select(c => $"{c.Component.Descriptor.Name} {c.Component.Descriptor.Version}")))}");
            foreach (var m in missingWeights) AnsiConsole.MarkupLine($"[yellow]Weights missing[/] ('run' will refuse to start until they are downloaded): {Markup.Escape(m)}");
            return ExitOk;
        }));

        var plugins = new Command("plugins", "List the plugins found, their components, versions and where they came from");
        plugins.SetAction((r, ct) => Guarded(async () =>
        {
            await using var app = await BiasBenchApp.StartAsync(Settings(r), [], r.GetValue(verbose));
            var table = new Table().AddColumns("Plugin", "Version", "Source", "Components / error");
            foreach (var p in app.Catalog.Plugins)
            {
                var comps = app.Catalog.Components.Where(c => c.Plugin == p).Select(c => $"{ExperimentValidator.Describe(c.Descriptor.Kind)} [bold]{Markup.Escape(c.Descriptor.Name)}[/] {Markup.Escape(c.Descriptor.Version)}");
                table.AddRow(Markup.Escape(p.Name), Markup.Escape(p.Version), Markup.Escape(Plugins.PluginInstaller.DescribeSource(p, Directory.GetCurrentDirectory())),
                    p.Error is null ? string.Join("\n", comps) : $"[red]not loaded: {Markup.Escape(p.Error)}[/]");
            }
            AnsiConsole.Write(table);
            return app.Catalog.Plugins.Any(p => !p.Loaded) ? ExitFailed : ExitOk;
        }));

        var output = new Option<string?>("--output", "-o") { Description = "Write the schema to this file instead of stdout" };
        var schema = new Command("schema", "Print the JSON schema of experiment configs (for editors), including every plugin's options") { output };
        schema.SetAction((r, ct) => Guarded(async () =>
        {
            await using var app = await BiasBenchApp.StartAsync(Settings(r), [], verbose: false);
            var json = SchemaGenerator.Generate(app.Catalog).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
            if (r.GetValue(output) is { } file) await File.WriteAllTextAsync(file, json, ct);
            else Console.Out.WriteLine(json);
            return ExitOk;
        }));

        root.Subcommands.Add(run);
        root.Subcommands.Add(validate);
        PluginsCommand.AddSubcommands(plugins, pluginDirs);
        root.Subcommands.Add(plugins);
        root.Subcommands.Add(schema);
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(MergeCommand.Create(configArg, runsDir, cacheDir, noProgress, runId, verbose, Settings, ResolvePluginPaths, PrintSummary));
        root.Subcommands.Add(TrainJudgeCommand.Create(Settings, r => r.GetValue(verbose), runsDir, cacheDir, Guarded));
        return root;
    }

    /// <summary>
    /// The config, or what could be read of it with the problems found so far: the plugin-level checks then add theirs,
    /// so one pass reports everything (a top-level typo does not hide a stage's option typos).
    /// </summary>
    internal static (ExperimentConfig Config, IReadOnlyList<ConfigProblem> Problems) LoadConfig(string path)
    {
        try { return (ExperimentConfigLoader.Load(path), []); }
        catch (ConfigException e) when (e.Partial is { } partial) { return (partial, e.Problems); }
    }

    internal static IEnumerable<string> ResolvePluginPaths(ExperimentConfig config) =>
        config.PluginPaths.Select(p => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(config.Directory, p)));

    internal static void PrintSummary(RunStore store, IReadOnlyList<StageOutput> outputs)
    {
        foreach (var f in outputs.SelectMany(o => o.Findings)) AnsiConsole.MarkupLine($"[bold]•[/] {Safe(f.Text)}");
        var failed = outputs.Sum(o => o.ItemsFailed);
        if (failed > 0) AnsiConsole.MarkupLine($"[yellow]{failed} item(s) failed; see the error columns in tables/.[/]");
        AnsiConsole.MarkupLine($"[green]Done.[/] Report: {Markup.Escape(Path.Combine(store.Directory, "report.md"))}");
    }

    /// <summary>Turns expected failures into clear messages and exit codes instead of stack traces.</summary>
    internal static async Task<int> Guarded(Func<Task<int>> body)
    {
        try { return await body(); }
        catch (ConfigException e)
        {
            AnsiConsole.MarkupLine($"[red]Invalid config ({e.Problems.Count} problem(s)):[/]");
            foreach (var p in e.Problems) AnsiConsole.MarkupLine($"  [red]{Safe(p.ToString())}[/]");
            return ExitInvalidConfig;
        }
        catch (OptionsValidationException e)
        {
            AnsiConsole.MarkupLine($"[red]Invalid settings:[/] {Safe(string.Join("; ", e.Failures))}");
            return ExitInvalidConfig;
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]Cancelled.[/]");
            return ExitCancelled;
        }
        catch (Exception e) when (e is StageFailedException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            AnsiConsole.MarkupLine($"[red]Failed:[/] {Safe(e.Message)}");
            return ExitFailed;
        }
        catch (ExternalException e)
        {
            // A libtorch error outside a stage's item loop (model loading, device set-up).
            AnsiConsole.MarkupLine($"[red]Failed in libtorch:[/] {Safe(e.Message.Split('\n', 2)[0])} " +
                                   "If this is CUDA running out of memory, re-run with a smaller 'batch_size' on the stage or with --device cpu.");
            return ExitFailed;
        }
        catch (Exception e) when (e is not OutOfMemoryException and not StackOverflowException)
        {
            // Anything else is a bug, but the user still gets one line (the run's log has the details), not a stack trace.
            AnsiConsole.MarkupLine($"[red]Failed ({Markup.Escape(e.GetType().Name)}):[/] {Safe(e.Message)}");
            return ExitFailed;
        }
    }

    /// <summary>Console text: secrets masked, markup escaped.</summary>
    private static string Safe(string text) => Markup.Escape(SecretValues.Redact(text));
}
