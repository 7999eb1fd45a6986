using System.CommandLine;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;
using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>
/// <c>biasbench merge CONFIG [--run-id ID] [--runs-dir DIR]</c>: once every shard of a run has finished, writes the
/// tables, figures and report of the whole run into its folder, as one process would have (see
/// <see cref="BiasBenchApp.MergeAsync"/>). Refuses, saying why, when a shard is missing, unfinished, or ran another
/// config, plugin version or weights.
/// </summary>
public static class MergeCommand
{
    public static Command Create(Argument<FileInfo> configArg, Option<string?> runsDir, Option<string?> cacheDir, Option<bool> noProgress,
        Option<string?> runId, Option<bool> verbose, Func<ParseResult, HostSettings> settings,
        Func<ExperimentConfig, IEnumerable<string>> pluginPaths, Action<RunStore, IReadOnlyList<StageOutput>> printSummary)
    {
        var merge = new Command("merge", "Assemble the shards of a run (biasbench run --shard K/N) into its tables, figures and report")
            { configArg, runsDir, cacheDir, noProgress, runId };
        merge.SetAction((r, ct) => Program.Guarded(async () =>
        {
            var config = ExperimentConfigLoader.Load(r.GetValue(configArg)!.FullName);
            await using var app = await BiasBenchApp.StartAsync(settings(r), pluginPaths(config), r.GetValue(verbose));
            var plan = app.Plan(config);
            var interactive = !r.GetValue(noProgress) && AnsiConsole.Profile.Capabilities.Interactive;
            try
            {
                var (store, outputs) = await app.MergeAsync(config, plan, interactive, ct);
                printSummary(store, outputs);
                return Program.ExitOk;
            }
            catch (ShardMergeException e)
            {
                AnsiConsole.MarkupLine($"[red]Not merged.[/] {Markup.Escape(e.Message)}");
                return Program.ExitShardsNotReady;
            }
        }));
        return merge;
    }
}
