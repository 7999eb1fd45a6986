using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;
using BiasBench.Torch.Backend;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using ILogger = Microsoft.Extensions.Logging.ILogger;

namespace BiasBench.Host.Cli;

/// <summary>Scale-out: several devices in one process (--devices), shards of one run (--shard K/N) and their merge.</summary>
public sealed partial class BiasBenchApp
{
    /// <summary>
    /// The run folder: a new timestamped one; runs/RUN-ID when named; for shard K of N runs/RUN-ID/shards/K-of-N (a
    /// rerun of the shard continues there), RUN-ID defaulting to the experiment and the run fingerprint so that all
    /// shards of one config agree on it without being told.
    /// </summary>
    private static RunStore OpenStore(ExperimentConfig config, IReadOnlyList<PlannedStage> plan, string runsRoot, ShardSpec? shard, string? runId)
    {
        if (shard is not { } s)
            return runId is null ? RunStore.Create(runsRoot, config.Experiment, DateTime.UtcNow) : RunStore.At(Path.Combine(runsRoot, runId));
        if (plan.FirstOrDefault(p => p.Config.Kind == StageKind.Finetune) is { } finetune)
            throw new InvalidOperationException($"--shard {s}: stage '{finetune.Config.Id}' fine-tunes a model, which cannot be split into shards; run this config without --shard.");
        var id = runId ?? RunFingerprint.DefaultRunId(config, RunFingerprint.Compute(config, plan));
        return RunStore.At(Path.Combine(runsRoot, id, "shards", s.FolderName), $"{id} shard {s}");
    }

    private static ScaleOut ResolveScaleOut(HostSettings settings, ShardSpec? shard, string resolvedDevice, ILogger log)
    {
        IReadOnlyList<string> devices = [resolvedDevice];
        if (settings.Devices is { Length: > 0 } list)
        {
            var cuda = TorchBackend.EnsureInitialized() is { CudaAvailable: true } info ? info.CudaDeviceCount : 0;
            try { devices = ScaleOut.ParseDevices(list, cuda); }
            catch (ArgumentException e) { throw new InvalidOperationException(e.Message, e); }
            if (list.Trim().Equals("all", StringComparison.OrdinalIgnoreCase) && cuda == 0)
                log.LogWarning("--devices all: no CUDA device is available; one CPU worker.");
            log.LogInformation("Expensive stages run one worker per device: {Devices}", string.Join(", ", devices));
        }
        return shard is { } s ? ScaleOut.ForShard(s, devices) : ScaleOut.Single(devices);
    }

    private static void DescribeScaleOut(RunStore store, ExperimentConfig config, IReadOnlyList<PlannedStage> plan, ScaleOut scale)
    {
        store.Manifest["scale_out"] = scale.Describe();
        var detail = RunFingerprint.Describe(config, plan);
        store.Manifest["fingerprint"] = ResultCache.Hash(System.Text.Encoding.UTF8.GetBytes(detail.ToJsonString()));
        store.Manifest["fingerprint_detail"] = detail;
    }

    /// <summary>
    /// Assembles the shards of a run (biasbench merge): checks that every shard finished with the same config, plugin
    /// versions and weights, then runs the config once more in the run folder with nothing expensive computed: every
    /// score, judgement and image comes from the shared cache (or is a failure a shard recorded), so the tables are the
    /// ones a single process would have written; the analyses, figures and report follow.
    /// </summary>
    public async Task<(RunStore Store, IReadOnlyList<StageOutput> Outputs)> MergeAsync(ExperimentConfig config, IReadOnlyList<PlannedStage> plan, bool interactiveProgress, CancellationToken ct)
    {
        var log = Logger("BiasBench.Merge");
        var settings = Settings;
        var runsRoot = settings.RunsDirectory
            ?? (config.RunsDirectory is { } r ? Path.GetFullPath(Path.Combine(config.Directory, r)) : Path.GetFullPath("runs"));
        var detail = RunFingerprint.Describe(config, plan);
        var fingerprint = ResultCache.Hash(System.Text.Encoding.UTF8.GetBytes(detail.ToJsonString()));
        var runFolder = Path.Combine(runsRoot, settings.RunId ?? RunFingerprint.DefaultRunId(config, fingerprint));
        // Shards whose process died (kill -9, a lost node) while 'running' are marked 'interrupted' first, so the refusal says so.
        var shardsFolder = ShardSet.ShardsDirectory(runFolder);
        if (Directory.Exists(shardsFolder))
            foreach (var dir in RunLocks.MarkInterrupted(Directory.GetDirectories(shardsFolder), "merge"))
                log.LogWarning("Shard {Folder} was killed while running (no live process holds its lock); its manifest now says 'interrupted'.", dir);
        var shards = ShardSet.Load(runFolder, fingerprint, detail); // refuses incomplete or mismatched shards
        var cacheDir = settings.CacheDirectory ?? shards.CacheDirectory;

        var store = RunStore.At(runFolder);
        LogFile.Open(store.LogFile);
        log.LogInformation("BiasBench {Version}: merging {Count} shards of experiment {Experiment} into {Folder} (cache {Cache})",
            typeof(BiasBenchApp).Assembly.GetName().Version, shards.Count, config.Experiment, store.Directory, cacheDir);
        RunLocks.Register(cacheDir, store.Directory);
        var scale = ScaleOut.ForMerge(shards.Records);
        // Nothing expensive runs here: no model is loaded and no device is used.
        var environment = new RunEnvironment("cpu", store.Directory, config.Directory, cacheDir, config.Seed);
        try
        {
            FillManifest(store, config, plan, new JsonObject { ["device"] = "none (the merge computes nothing expensive)" }, environment);
            DescribeScaleOut(store, config, plan, scale);
            store.Manifest["merged_from"] = shards.Summary;
            store.SaveManifest();
        }
        catch
        {
            store.ReleaseLock();
            throw;
        }

        ExperimentRunner runner;
        if (interactiveProgress)
        {
            runner = null!;
            await Console.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
                .StartAsync(async p =>
                {
                    runner = new ExperimentRunner(config, plan, Services, store, environment, log, new SpectreRunProgress(p), scale);
                    await runner.RunAsync(ct);
                });
        }
        else
        {
            runner = new ExperimentRunner(config, plan, Services, store, environment, log, null, scale);
            await runner.RunAsync(ct);
        }
        return (store, runner.Outputs);
    }
}
