using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Torch.Backend;
using BiasBench.Training;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.FineTuning;

/// <summary>What one optimiser update did (before the update is applied): means over its passes, and the last pass's
/// images (float32 [N, 3, H, W] in [0, 1] on the CPU; the caller disposes them).</summary>
public sealed record UpdateStats(double Loss, double Reward, IReadOnlyDictionary<string, double> Rewards, double BasePenalty, double PretrainLoss, int Images,
    Tensor LastImages);

/// <summary>
/// Fine-tunes a differentiable generator against a weighted sum of differentiable rewards with DRaFT-K, DRaFT-LV or
/// ReFL: AdamW (own implementation, state checkpointed) with linear warm-up and cosine decay, gradient accumulation,
/// global-norm clipping, optional EMA, bf16 compute with float32 master weights on CUDA, every random draw derived from
/// the seed and the step. A resumable checkpoint is written every N updates into the work directory (atomic), and a
/// run killed at any point continues from it exactly (bit for bit on the CPU). The reward-hacking monitor runs every M
/// updates. At the end the trained weights (the EMA's if on) are saved in the diffusers layout: the stage's output.
/// </summary>
public sealed class RewardFineTuner : IFineTuner
{
    public const string StateFile = "last.safetensors", ModelFolder = "model", TrainingLogFile = "training_log.csv";

    private readonly RewardFineTuningOptions _options;
    private readonly RunEnvironment _environment;
    private readonly IDifferentiableImageGenerator _generator;
    private readonly IReadOnlyList<(string Name, IDifferentiableRewardModel Model, double Weight)> _rewards;
    private readonly IReadOnlyList<(string Name, IRewardModel Model)> _monitorRewards;
    private readonly IReadOnlyList<MonitorJudge> _judges;

    /// <summary>Resolves the generator, rewards, judges and monitor rewards through the host (<see cref="ComponentContext.Components"/>).</summary>
    public RewardFineTuner(RewardFineTuningOptions options, ComponentContext context)
    {
        _options = options;
        _environment = context.Environment;
        var resolver = context.Components;
        _generator = resolver.Resolve(options.Generator ?? throw new ArgumentException("generator is required."));
        _rewards = Named(options.TrainingRewards().Select(r => (resolver.Resolve(r), r.Weight)).ToList(), r => r.Item1.Info.Name)
            .Select(x => (x.Name, x.Item.Item1, x.Item.Item2)).ToList();
        if (_rewards.Count == 0) throw new ArgumentException("give a training reward: 'reward' or a non-empty 'rewards' list.");
        _monitorRewards = Named((options.MonitorRewards ?? []).Select(r => resolver.Resolve(r)).ToList(), m => m.Info.Name).ToList();
        _judges = Named((options.Judges ?? []).Select(r => resolver.Resolve(r)).ToList(), j => j.Info.Name)
            .Select(j => new MonitorJudge(j.Name, j.Item, options.JudgePositiveLabel ?? (j.Item.Info.Labels.Count > 0 ? j.Item.Info.Labels[0]
                : throw new ArgumentException($"judge '{j.Name}' declares no labels; set judge_positive_label."))))
            .ToList();
    }

    public string Name => _options.Algorithm;

    public IDifferentiableImageGenerator Generator => _generator;

    /// <summary>Settings that define the trained weights: a checkpoint of other settings is never resumed.</summary>
    public string Fingerprint(int seed)
    {
        var settings = JsonSerializer.SerializeToNode(_options, _options.GetType())!.AsObject();
        foreach (var key in new[] { nameof(RewardFineTuningOptions.LogEverySteps), nameof(RewardFineTuningOptions.CheckpointEverySteps) })
            settings.Remove(key);
        var components = new JsonArray(
            Identity(_generator.Info.Name, _generator.Info.Version, _generator.Info.WeightsChecksum),
            new JsonArray(_rewards.Select(r => (JsonNode)Identity(r.Model.Info.Name, r.Model.Info.Version, r.Model.Info.WeightsChecksum)).ToArray()),
            new JsonArray(_monitorRewards.Select(r => (JsonNode)Identity(r.Model.Info.Name, r.Model.Info.Version, r.Model.Info.WeightsChecksum)).ToArray()),
            new JsonArray(_judges.Select(j => (JsonNode)Identity(j.Judge.Info.Name, j.Judge.Info.Version, j.Judge.Info.WeightsChecksum)).ToArray()));
        return TrainingCheckpoint.Fingerprint($"{Name}|{settings.ToJsonString()}|{components.ToJsonString()}|seed={seed}");
    }

    /// <summary>The host's entry point: state in the work directory (survives re-runs), results for this run.</summary>
    public Task<FineTuneResult> RunAsync(FineTuneContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context.OutputDirectory, context.WorkDirectory, context.Seed, context.Logger, context.Progress, null, cancellationToken), cancellationToken);

    /// <summary>Without a work directory from the host: one under the cache folder, named by the settings' fingerprint.</summary>
    public Task<FineTuneResult> RunAsync(string outputDirectory, ILogger logger, IProgress<double>? progress, CancellationToken cancellationToken) =>
        Task.Run(() => Run(outputDirectory, DefaultWorkDirectory(), _environment.Seed, logger, progress, null, cancellationToken), cancellationToken);

    public string DefaultWorkDirectory() => Path.Combine(_environment.CacheDirectory, "finetune", $"{Name}-{Fingerprint(_environment.Seed)}");

    /// <summary>Trains (or resumes, or returns a finished run's results); <paramref name="onStep"/> sees every finished
    /// update (tests use it to "kill" a run).</summary>
    public FineTuneResult Run(string outputDirectory, string workDirectory, int seed, ILogger logger, IProgress<double>? progress,
        Action<long>? onStep, CancellationToken ct)
    {
        TorchBackend.EnsureInitialized();
        var fingerprint = Fingerprint(seed);
        Directory.CreateDirectory(workDirectory);
        var statePath = Path.Combine(workDirectory, StateFile);
        var modelPath = Path.Combine(workDirectory, ModelFolder);
        var objective = new RewardObjective(_rewards, _options.RewardPrompt);
        var monitor = _options.MonitorEverySteps > 0
            ? new RewardHackingMonitor(_generator, _rewards, _monitorRewards, _judges, _options.PromptAt, _options.MonitorSeedStart,
                _options.MonitorImages, _options.GridImages, workDirectory)
            : null;
        var log = new CsvLog(Path.Combine(workDirectory, TrainingLogFile), LogColumns());
        var total = (long)_options.TrainingSteps;
        var peek = TrainingCheckpoint.PeekPosition(statePath);
        var finished = peek?.Extra["finished"]?.GetValue<bool>() == true && Directory.Exists(modelPath);
        var clock = Stopwatch.StartNew();
        long stepsThisSession = 0;
        if (!finished)
        {
            stepsThisSession = Train(workDirectory, statePath, modelPath, fingerprint, seed, objective, monitor, log, logger, progress, onStep, ct);
        }
        else
        {
            logger.LogInformation("{Tuner}: finished earlier ({Steps} updates); using {Model}", Name, peek!.Step, modelPath);
        }
        progress?.Report(1.0);
        return Results(outputDirectory, workDirectory, modelPath, monitor, log, stepsThisSession, clock.Elapsed);
    }

    private long Train(string workDirectory, string statePath, string modelPath, string fingerprint, int seed, RewardObjective objective,
        RewardHackingMonitor? monitor, CsvLog log, ILogger logger, IProgress<double>? progress, Action<long>? onStep, CancellationToken ct)
    {
        var device = _generator.Device;
        var mode = _options.Precision switch { "float32" => PrecisionMode.Float32, "bfloat16" => PrecisionMode.BFloat16, _ => PrecisionMode.Auto };
        var computeDType = MixedPrecision.ComputeDType(mode, device);
        var setup = _options.Setup(computeDType, (long)(Seeding.Derive(seed, 7000) & 0x7FFF_FFFF_FFFF_FFFFUL), _generator.PreferredTrainableWeights);
        var parameters = _generator.PrepareTraining(setup);
        var total = (long)_options.TrainingSteps;
        using var optimizer = new AdamW(parameters, _options.AdamBeta1, _options.AdamBeta2, _options.AdamEpsilon, _options.WeightDecay, decays: (_, p) => p.dim() > 1);
        using var ema = _options.EmaDecay is { } decay ? new ExponentialMovingAverage(parameters.Select(p => (p.Name, (Tensor)p.Parameter)), decay) : null;
        var algorithm = RewardAlgorithm.Create(_options, objective, seed);
        var realImages = _options is ReflOptions { DatasetDirectory: { Length: > 0 } dir } ? new RealImageBatches(dir, _generator.ImageSize, seed) : null;
        var schedule = new CosineWarmupSchedule(_options.LearningRate, _options.WarmupSteps, total, _options.MinLearningRate);
        var named = parameters.Select(p => (p.Name, (Tensor)p.Parameter)).ToList();

        var position = new TrainingPosition();
        if (File.Exists(statePath))
        {
            Dictionary<string, Tensor>? emaValues = null;
            position = TrainingCheckpoint.Restore(statePath, named, optimizer, fingerprint, (group, values) =>
            {
                if (group == "ema") emaValues = values.ToDictionary(kv => kv.Key, kv => kv.Value.clone(), StringComparer.Ordinal);
            });
            if (ema is not null)
            {
                if (emaValues is null) throw new InvalidDataException($"{statePath}: no EMA state, but this run keeps an EMA.");
                ema.Load(emaValues, position.Extra["ema_updates"]?.GetValue<long>() ?? 0, statePath);
            }
            foreach (var t in emaValues?.Values ?? Enumerable.Empty<Tensor>()) t.Dispose();
            log.TruncateAfter(position.Step);
            logger.LogInformation("{Tuner}: resuming from {Path} at update {Step}/{Total}", Name, statePath, position.Step, total);
        }
        logger.LogInformation("{Tuner}: {Algorithm}; {Total} updates of {Batch} x {Accumulation} images, AdamW lr {Lr} (warm-up {Warmup}, cosine to {MinLr}), " +
                              "clip {Clip}, EMA {Ema}, {Trainable}, {Precision} on {Device}, {Steps} sampling steps, rewards {Rewards}, prompt \"{Prompt}\"",
            Name, algorithm.Pass(0, 0, _generator.SamplingSteps, 1).Description, total, _options.BatchSize, _options.GradientAccumulation, _options.LearningRate,
            _options.WarmupSteps, _options.MinLearningRate, _options.GradientClip, _options.EmaDecay?.ToString(CultureInfo.InvariantCulture) ?? "off",
            setup.Kind == TrainableWeightsKind.Lora ? $"LoRA rank {_options.LoraRank}" : "full UNet", MixedPrecision.Describe(computeDType), device,
            _generator.SamplingSteps, string.Join(" + ", _rewards.Select(r => $"{r.Weight} x {r.Name}")),
            _options.Prompts is { Count: > 0 } prompts ? string.Join("\" | \"", prompts) : _options.RewardPrompt);

        void Monitor(long step)
        {
            if (monitor is null || monitor.Log.Contains(step)) return;
            if (step != 0 && step != total && step % _options.MonitorEverySteps != 0) return;
            // The monitor sees what would be saved: the EMA's weights when there is one.
            var previous = ema is null ? null : _generator.SwapTrainableValues(ema.Shadows);
            try { monitor.RunAsync(step, logger, ct).GetAwaiter().GetResult(); }
            finally
            {
                if (previous is not null)
                {
                    _generator.SwapTrainableValues(previous);
                    foreach (var t in previous.Values) t.Dispose();
                }
            }
        }

        void Save(bool done)
        {
            position.Extra["finished"] = done;
            if (ema is not null) position.Extra["ema_updates"] = ema.Updates;
            var groups = ema is null ? null : new Dictionary<string, IReadOnlyDictionary<string, Tensor>> { ["ema"] = ema.Shadows };
            TrainingCheckpoint.Save(statePath, named, optimizer, position, fingerprint, groups);
        }

        Monitor(position.Step);
        var meter = new ThroughputMeter();
        long done = 0;
        while (position.Step < total)
        {
            ct.ThrowIfCancellationRequested();
            var step = position.Step;
            var lr = schedule.At(step);
            optimizer.ZeroGrad();
            var stats = AccumulateGradients(_generator, algorithm, realImages, _options, step, null, ct);
            stats.LastImages.Dispose();
            var norm = GradientClipping.ClipByGlobalNorm(parameters.Select(p => (Tensor)p.Parameter), _options.GradientClip > 0 ? _options.GradientClip : double.PositiveInfinity);
            if (!double.IsFinite(stats.Loss) || !double.IsFinite(norm))
                throw new InvalidOperationException($"{Name}: training diverged at update {step + 1} (loss {stats.Loss}, gradient norm {norm}); lower learning_rate.");
            optimizer.Update(lr);
            ema?.Update();
            position.Step = step + 1;
            done++;
            var row = new List<double> { position.Step, stats.Loss, stats.Reward };
            row.AddRange(_rewards.Select(r => stats.Rewards[r.Name]));
            row.AddRange([stats.BasePenalty, stats.PretrainLoss, norm, lr]);
            log.Append(row);
            var rate = meter.Record(stats.Images);
            progress?.Report((double)position.Step / total);
            if (position.Step % _options.LogEverySteps == 0 || position.Step == total)
                logger.LogInformation("{Tuner}: update {Step}/{Total}, loss {Loss:G5}, reward {Reward:G5}{Extra}, gradient norm {Norm:G4}, lr {Lr:G3}, {Rate:F2} images/s",
                    Name, position.Step, total, stats.Loss, stats.Reward,
                    (_options.BasePenalty > 0 ? $", base penalty {stats.BasePenalty:G4}" : "") + (realImages is not null ? $", pre-training loss {stats.PretrainLoss:G4}" : ""),
                    norm, lr, rate);
            if (position.Step % _options.CheckpointEverySteps == 0 || position.Step == total) Save(false);
            Monitor(position.Step);
            onStep?.Invoke(position.Step);
        }

        // The output: the EMA's weights when there is one, else the trained ones, in the diffusers layout.
        var swapped = ema is null ? null : _generator.SwapTrainableValues(ema.Shadows);
        try
        {
            _generator.SaveTrained(modelPath, new Dictionary<string, string>
            {
                ["biasbench.fine_tuner"] = Name,
                ["biasbench.updates"] = total.ToString(CultureInfo.InvariantCulture),
                ["biasbench.settings"] = fingerprint,
                ["biasbench.ema"] = ema is null ? "off" : ema.Decay.ToString("R", CultureInfo.InvariantCulture),
            });
        }
        finally
        {
            if (swapped is not null)
            {
                _generator.SwapTrainableValues(swapped);
                foreach (var t in swapped.Values) t.Dispose();
            }
        }
        Save(true);
        logger.LogInformation("{Tuner}: trained weights written to {Model}", Name, modelPath);
        return done;
    }

    /// <summary>
    /// The gradients of one update: <see cref="RewardFineTuningOptions.GradientAccumulation"/> passes of the algorithm
    /// through <see cref="IDifferentiableImageGenerator.Backward"/>, each loss divided by the number of passes, plus ReFL's
    /// pre-training loss when real images are given. The training loop calls exactly this;
    /// <paramref name="adjust"/> lets a parity test replace the seeded x_T with a reference's.
    /// </summary>
    public static UpdateStats AccumulateGradients(IDifferentiableImageGenerator generator, RewardAlgorithm algorithm, RealImageBatches? realImages,
        RewardFineTuningOptions options, long step, Func<DifferentiableSampling, DifferentiableSampling>? adjust, CancellationToken ct)
    {
        var passes = options.GradientAccumulation;
        double loss = 0, reward = 0, penalty = 0, pretrain = 0;
        var rewards = algorithm.Objective.Rewards.ToDictionary(r => r.Name, _ => 0.0, StringComparer.Ordinal);
        var images = 0;
        Tensor? lastImages = null;
        for (var micro = 0; micro < passes; micro++)
        {
            ct.ThrowIfCancellationRequested();
            var pass = algorithm.Pass(step, micro, generator.SamplingSteps, passes);
            var request = adjust is null ? pass.Request : adjust(pass.Request);
            var result = generator.Backward(request, pass.Loss);
            lastImages?.Dispose();
            lastImages = result.Images;
            loss += result.Loss;
            penalty += result.BasePenalty / passes;
            reward += algorithm.Objective.LastTotal.Average() / passes;
            foreach (var (name, values) in algorithm.Objective.LastByReward) rewards[name] += values.Average() / passes;
            images += request.Prompts.Count;
            if (realImages is not null && options is ReflOptions refl && refl.PretrainWeight > 0)
            {
                using var batch = realImages.Batch(step, micro, options.BatchSize);
                using var noise = Seeding.Torch(algorithm.RunSeed, 7005, step, micro);
                pretrain += generator.DenoisingBackward(batch, request.Prompts, noise, refl.PretrainWeight / passes) / passes;
            }
        }
        return new UpdateStats(loss, reward, rewards, penalty, pretrain, images, lastImages!);
    }

    private List<string> LogColumns()
    {
        var columns = new List<string> { "step", "loss", "reward" };
        columns.AddRange(_rewards.Select(r => "reward." + System.Text.RegularExpressions.Regex.Replace(r.Name, "[^A-Za-z0-9_.-]", "_")));
        columns.AddRange(["base_penalty", "pretrain_loss", "gradient_norm", "learning_rate"]);
        return columns;
    }

    private FineTuneResult Results(string outputDirectory, string workDirectory, string modelPath, RewardHackingMonitor? monitor, CsvLog log,
        long stepsThisSession, TimeSpan elapsed)
    {
        Directory.CreateDirectory(outputDirectory);
        var trainingLog = log.ToTable("training_log",
            "Per update: the loss (objective, divided over accumulated passes and summed), the mean training reward of the update's images " +
            "(weighted sum and each reward), base penalty, ReFL pre-training loss, gradient norm before clipping, learning rate.");
        var tables = new List<DataTable>();
        var figures = new List<Figure>();
        var findings = new List<Finding>();
        var rows = log.Rows;
        findings.Add(new Finding($"{Name}: {rows.Count} update(s) logged ({stepsThisSession} this session, {elapsed.TotalMinutes:F1} min); " +
                                 $"trained weights (diffusers layout) in {modelPath}."));
        if (monitor is not null && monitor.Log.Rows.Count > 0)
        {
            var m = monitor.Log;
            tables.Add(m.ToTable("monitor", $"Reward-hacking monitor: {_options.MonitorImages} fixed seeds (from {_options.MonitorSeedStart}) generated at each " +
                                            "monitored step and scored by the training rewards (reward.*, weighted sum training_reward), independent reward models " +
                                            "(monitor.*) and judges (share judged positive, mean probability)."));
            figures.Add(MonitorFigures.RewardVersusJudged(m, _judges, Name));
            if (m.Columns.Count(c => c.StartsWith("reward.", StringComparison.Ordinal) || c.StartsWith("monitor.", StringComparison.Ordinal)) > 0)
                figures.Add(MonitorFigures.RewardShifts(m));
            foreach (var step in GridSteps(m.Rows.Select(r => (long)r[0]).ToList()))
            {
                var path = monitor.GridPath(step);
                if (File.Exists(path)) figures.Add(MonitorFigures.SampleGrid(step, File.ReadAllBytes(path), Math.Min(_options.GridImages, _options.MonitorImages)));
            }
            var first = m.Rows[0];
            var last = m.Rows[^1];
            var text = $"{Name} monitor: training reward {first[1]:G4} at step {first[0]:F0} -> {last[1]:G4} at step {last[0]:F0}";
            foreach (var judge in _judges)
            {
                var index = m.Columns.ToList().IndexOf(RewardHackingMonitor.ShareColumn(judge));
                text += $"; {judge.Name} '{judge.PositiveLabel}' share {first[index]:P1} -> {last[index]:P1}";
            }
            findings.Add(new Finding(text + $" ({_options.MonitorImages} fixed seeds)."));
            File.Copy(m.Path, Path.Combine(outputDirectory, "monitor.csv"), overwrite: true);
        }
        return new FineTuneResult(modelPath, trainingLog)
        {
            Metadata = new Dictionary<string, string>
            {
                ["work_directory"] = workDirectory,
                ["model"] = modelPath,
                ["updates"] = rows.Count.ToString(CultureInfo.InvariantCulture),
            },
            Tables = tables,
            Figures = figures,
            Findings = findings,
        };
    }

    /// <summary>The first, the last and evenly spaced monitored steps between them.</summary>
    private IEnumerable<long> GridSteps(IReadOnlyList<long> steps)
    {
        var n = Math.Min(_options.SampleGrids, steps.Count);
        if (n <= 0) return [];
        if (n == 1) return [steps[^1]];
        return Enumerable.Range(0, n).Select(i => steps[(int)Math.Round((double)i * (steps.Count - 1) / (n - 1))]).Distinct();
    }

    private static JsonObject Identity(string name, string version, string? checksum) => new() { ["name"] = name, ["version"] = version, ["weights"] = checksum };

    /// <summary>Unique display names: the component's name, suffixed #2, #3... when it repeats.</summary>
    private static IEnumerable<(string Name, T Item)> Named<T>(IReadOnlyList<T> items, Func<T, string> name)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var n = name(item);
            seen[n] = seen.GetValueOrDefault(n) + 1;
            yield return (seen[n] == 1 ? n : $"{n}#{seen[n]}", item);
        }
    }
}
