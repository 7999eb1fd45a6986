using System.Diagnostics;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Plugins;
using Microsoft.Extensions.Logging;

namespace BiasBench.Host.Runs;

/// <summary>Reports per-stage progress (the CLI shows it as Spectre.Console progress bars).</summary>
public interface IRunProgress
{
    IProgressTask Start(string description, int total);
}

public interface IProgressTask : IDisposable
{
    void Increment(int by = 1);
}

public sealed class NullRunProgress : IRunProgress
{
    public static readonly NullRunProgress Instance = new();
    public IProgressTask Start(string description, int total) => new Task();
    private sealed class Task : IProgressTask { public void Increment(int by = 1) { } public void Dispose() { } }
}

/// <summary>
/// Runs a validated experiment stage by stage, writing every result into the run store as it goes. Per-item work
/// (scores, judgements, generated images) goes through the content-addressed <see cref="ResultCache"/>, so a re-run
/// after a crash or Ctrl-C recomputes only what is missing and never duplicates a row.
/// </summary>
public sealed class ExperimentRunner(
    ExperimentConfig config,
    IReadOnlyList<PlannedStage> stages,
    IServiceProvider services,
    RunStore store,
    RunEnvironment environment,
    ILogger logger,
    IRunProgress? progress = null,
    ScaleOut? scaleOut = null)
{
    private readonly IRunProgress _progress = progress ?? NullRunProgress.Instance;
    private readonly ScaleOut _scale = scaleOut ?? ScaleOut.Single([environment.Device]);
    private readonly Dictionary<string, List<StageOutput>> _outputs = new(StringComparer.Ordinal);
    private readonly List<StageOutput> _ordered = [];
    private ComponentPool? _pool;

    public IReadOnlyList<StageOutput> Outputs => _ordered;
    internal RunStore Store => store;
    internal ILogger Logger => logger;
    internal RunEnvironment Environment => environment;
    internal ExperimentConfig Config => config;
    internal IServiceProvider Services => services;
    /// <summary>Shared and referenced component instances: created once, disposed after the last stage that uses them.</summary>
    internal ComponentPool Pool => _pool ??= new ComponentPool(stages, logger, () => _ordered);

    public async Task RunAsync(CancellationToken ct)
    {
        var stagesJson = new JsonArray();
        store.Manifest["stages"] = stagesJson;
        store.Manifest["status"] = "running";
        store.SaveManifest();
        try
        {
            foreach (var planned in stages)
            {
                ct.ThrowIfCancellationRequested();
                if (!_scale.RunsStage(planned.Config.Kind))
                {
                    logger.LogInformation("Stage {Stage} ({Kind}) runs when the shards are merged (biasbench merge)", planned.Config.Id, planned.Config.Kind.ToString().ToLowerInvariant());
                    stagesJson.Add(new JsonObject { ["id"] = planned.Config.Id, ["kind"] = planned.Config.Kind.ToString().ToLowerInvariant(), ["skipped"] = "runs at the merge" });
                    continue;
                }
                var sw = Stopwatch.StartNew();
                logger.LogInformation("Stage {Stage} ({Kind}) started", planned.Config.Id, planned.Config.Kind.ToString().ToLowerInvariant());
                var output = new StageOutput(planned.Config);
                var ctx = new StageContext(planned, output, this);
                switch (planned.Config.Kind)
                {
                    case StageKind.Data: await DataStage.RunAsync(ctx, ct); break;
                    case StageKind.Generate: await GenerateStage.RunAsync(ctx, ct); break;
                    case StageKind.Score: await ScoreStage.RunAsync(ctx, ct); break;
                    case StageKind.Judge: await JudgeStage.RunAsync(ctx, ct); break;
                    case StageKind.Analyze: await AnalyzeStage.RunAsync(ctx, ct); break;
                    case StageKind.Finetune: await FinetuneStage.RunAsync(ctx, ct); break;
                    case StageKind.Report: break;
                }
                output.Duration = sw.Elapsed;
                foreach (var table in output.Tables) output.Files.AddRange(store.WriteTable(table, planned.Config.Id));
                foreach (var figure in output.Figures) output.Files.AddRange(store.WriteFigure(figure, planned.Config.Id));
                foreach (var w in output.Warnings) logger.LogWarning("{Stage}: {Warning}", planned.Config.Id, w);
                foreach (var f in output.Findings) logger.LogInformation("{Stage}: {Finding}", planned.Config.Id, f.Text);
                Record(output);
                Pool.ReleaseAfter(planned);
                stagesJson.Add(StageJson(output));
                store.SaveManifest();
                if (planned.Config.Kind == StageKind.Report) ReportWriter.Write(store, config, _ordered);
                logger.LogInformation("Stage {Stage} finished in {Seconds:F1} s ({Computed} computed, {Cached} from cache, {Failed} failed)",
                    planned.Config.Id, sw.Elapsed.TotalSeconds, output.ItemsComputed, output.ItemsFromCache, output.ItemsFailed);
            }
            store.Manifest["status"] = "completed";
        }
        catch (OperationCanceledException)
        {
            store.Manifest["status"] = "cancelled";
            logger.LogWarning("Run cancelled; finished items are cached and a re-run resumes from them.");
            throw;
        }
        catch (Exception e)
        {
            store.Manifest["status"] = "failed";
            store.Manifest["error"] = e.Message;
            // The reason goes to run.log and the report too, not only to the console and the manifest.
            logger.LogError("Run failed: {Reason}", e.Message);
            throw;
        }
        finally
        {
            _pool?.Dispose();
            store.Manifest["finished_utc"] = DateTime.UtcNow.ToString("O");
            store.SaveManifest();
            store.ReleaseLock();
            // The report is always written, also for failed or cancelled runs: it shows what finished.
            ReportWriter.Write(store, config, _ordered);
        }
    }

    private void Record(StageOutput output)
    {
        if (!_outputs.TryGetValue(output.Stage.BaseId, out var list)) _outputs[output.Stage.BaseId] = list = [];
        list.Add(output);
        _ordered.Add(output);
    }

    private static JsonObject StageJson(StageOutput o) => new()
    {
        ["id"] = o.Stage.Id,
        ["kind"] = o.Stage.Kind.ToString().ToLowerInvariant(),
        ["plugins"] = new JsonArray(o.Stage.Plugins.Select(p => (JsonNode)p!).ToArray()),
        ["sweep"] = new JsonObject(o.Stage.SweepValues.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        ["rows"] = o.Primary?.RowCount ?? 0,
        ["images"] = o.Images.Count,
        ["items_computed"] = o.ItemsComputed,
        ["items_from_cache"] = o.ItemsFromCache,
        ["items_failed"] = o.ItemsFailed,
        ["seconds"] = Math.Round(o.Duration.TotalSeconds, 3),
        ["files"] = new JsonArray(o.Files.Select(f => (JsonNode)f!).ToArray()),
        ["warnings"] = new JsonArray(o.Warnings.Select(w => (JsonNode)w!).ToArray()),
        ["components"] = o.ComponentRecords.DeepClone(), // expensive components: info, failures, items per device worker
    };

    /// <summary>Everything a stage handler needs.</summary>
    internal sealed class StageContext(PlannedStage planned, StageOutput output, ExperimentRunner runner)
    {
        public PlannedStage Planned { get; } = planned;
        public StageConfig Stage => Planned.Config;
        public StageOutput Output { get; } = output;
        public RunStore Store => runner.Store;
        public ILogger Logger => runner.Logger;
        public IRunProgress Progress => runner._progress;
        public RunEnvironment Environment => runner.Environment;
        public ExperimentConfig Config => runner.Config;
        public ScaleOut Scale => runner._scale;

        public T Create<T>(PlannedComponent component, string? device = null) where T : class
        {
            var ctx = new ComponentContext(runner.Services, device is null ? runner.Environment : runner.Environment with { Device = device });
            object instance;
            try { instance = runner.Pool.CreateForStage(Planned, component, ctx, typeof(T)); } // shared, or new; its references resolved
            catch (Exception e)
            {
                throw new StageFailedException(Stage.Id, $"{ExperimentValidator.Describe(component.Component.Descriptor.Kind)} '{component.Component.Descriptor.Name}' failed to start: {e.Message}", e);
            }
            return instance as T ?? throw new StageFailedException(Stage.Id,
                $"component '{component.Component.Descriptor.Name}' returned {instance.GetType().Name}, not {typeof(T).Name}.");
        }

        /// <summary>Outputs of the stages named in 'inputs' (all sweep instances of each), in order.</summary>
        public IReadOnlyList<StageOutput> Inputs()
        {
            var result = new List<StageOutput>();
            foreach (var id in Stage.Inputs)
                if (runner._outputs.TryGetValue(id, out var list)) result.AddRange(list);
            return result;
        }

        /// <summary>The stage's input images: from 'inputs', or else from the nearest earlier stage that has images.</summary>
        public IReadOnlyList<(ImageRef Image, StageOutput Source)> InputImages()
        {
            var sources = Stage.Inputs.Count > 0 ? Inputs() : runner._ordered.LastOrDefault(o => o.Images.Count > 0) is { } last ? [last] : [];
            // A shard takes its part of the images (see ScaleOut.Owns).
            return sources.SelectMany(s => s.Images.Where(i => runner._scale.Owns(i, s)).Select(i => (i, s))).ToList();
        }

        public ResultCache OpenCache(string kind, string componentName, string configurationKey)
        {
            var file = Path.Combine(runner.Environment.CacheDirectory, kind, $"{RunStore.SafeFileName(componentName)}-{configurationKey[..16]}.jsonl");
            var cache = new ResultCache(file);
            if (cache.CorruptLines > 0)
                Logger.LogWarning("Cache {File}: removed {Count} unreadable line(s) (an interrupted write); those items will be recomputed.", file, cache.CorruptLines);
            return cache;
        }

        /// <summary>
        /// The cache key of a component's configuration: what it is (kind, name, declared version), the build of the
        /// plugin that provides it (<see cref="PluginInfo.BuildId"/>: changes when its code or the BiasBench libraries
        /// it uses change), its weights checksum, anything else the caller adds, and its options without [Secret] ones.
        /// </summary>
        public string ConfigurationKey(string kind, PlannedComponent component, string name, string version, string? weightsChecksum, params string?[] extra) =>
            ResultCache.Key([kind, name, version, component.Component.Plugin.BuildId, weightsChecksum, .. extra, SecretOptions.CacheKeyJson(component.Options),
                .. runner.Pool.IdentitiesOf(component)]); // the components it resolved (none: the key is as before)
    }
}

/// <summary>A stage could not run at all (as opposed to per-item failures, which are reported in the results).</summary>
public sealed class StageFailedException(string stageId, string message, Exception? inner = null)
    : Exception($"Stage '{stageId}': {message}", inner)
{
    public string StageId { get; } = stageId;
}
