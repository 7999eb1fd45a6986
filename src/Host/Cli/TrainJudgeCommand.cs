using System.CommandLine;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>
/// <c>biasbench train-judge &lt;config&gt;</c>: runs an experiment whose finetune stage trains a judge (the
/// <c>resnet-attractiveness-trainer</c> plugin; the same code as a <c>finetune</c> stage in any experiment), then prints
/// where the classifier was written and its test metrics. Rerunning the same command after a kill resumes from the
/// last training checkpoint.
/// </summary>
public static class TrainJudgeCommand
{
    public const string TrainerName = "resnet-attractiveness-trainer";

    public static Command Create(Func<ParseResult, HostSettings> settings, Func<ParseResult, bool> verbose, Option<string?> runsDir, Option<string?> cacheDir,
        Func<Func<Task<int>>, Task<int>> guarded)
    {
        var configArg = new Argument<FileInfo>("config") { Description = "Experiment YAML with a finetune stage using resnet-attractiveness-trainer (e.g. configs/train-judge-hackathon-sdxl.yaml)" };
        var noProgress = new Option<bool>("--no-progress") { Description = "Plain log lines instead of progress bars" };
        var command = new Command("train-judge", "Train the attractiveness classifier (judge) from a config; resumes after a kill") { configArg, runsDir, cacheDir, noProgress };
        command.SetAction((r, ct) => guarded(async () =>
        {
            var config = ExperimentConfigLoader.Load(r.GetValue(configArg)!.FullName);
            var trainers = config.Stages.Where(s => s.Kind == StageKind.Finetune && s.Plugins.Contains(TrainerName)).ToList();
            if (trainers.Count == 0)
                throw new ConfigException(new SourceLocation(config.FilePath, 1, 1),
                    $"train-judge needs a stage with 'kind: finetune' and 'plugin: {TrainerName}' (see configs/train-judge-hackathon-sdxl.yaml).");
            var pluginPaths = config.PluginPaths.Select(p => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(config.Directory, p)));
            await using var app = await BiasBenchApp.StartAsync(settings(r), pluginPaths, verbose(r));
            var plan = app.Plan(config);
            var interactive = !r.GetValue(noProgress) && AnsiConsole.Profile.Capabilities.Interactive;
            try
            {
                var (store, outputs) = await app.RunAsync(config, plan, interactive, ct);
                foreach (var output in outputs.Where(o => trainers.Any(t => t.Id == o.Stage.Id)))
                    foreach (var f in output.Findings) AnsiConsole.MarkupLine($"[bold]•[/] {Markup.Escape(f.Text)}");
                AnsiConsole.MarkupLine($"[green]Done.[/] Tables, figures and the classifier: {Markup.Escape(store.Directory)}");
                return Program.ExitOk;
            }
            catch (OperationCanceledException)
            {
                AnsiConsole.MarkupLine("[yellow]Cancelled.[/] The last training checkpoint is kept; run the same command again to resume.");
                return Program.ExitCancelled;
            }
        }));
        return command;
    }
}
