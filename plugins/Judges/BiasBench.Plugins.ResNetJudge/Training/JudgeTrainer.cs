using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Data;
using BiasBench.Imaging;
using BiasBench.Networks.Vision;
using BiasBench.Statistics;
using BiasBench.Torch.Backend;
using BiasBench.Training;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ResNetJudge.Training;

/// <summary>
/// Trains the attractiveness classifier: torchvision-style augmentation at <see cref="TrainerOptions.ImageSize"/>,
/// AdamW with a cosine schedule after a linear warm-up, BCE with logits (optional pos_weight), gradient clipping,
/// bf16 compute on CUDA; validation ROC-AUC every epoch with early stopping; a training checkpoint every epoch (and
/// optionally every N steps) from which a killed run continues exactly. At the end the best epoch's weights are
/// evaluated: threshold chosen on validation, metrics, calibration and per-group metrics on test.
/// </summary>
public sealed class JudgeTrainer(TrainerOptions options, RunEnvironment environment) : IFineTuner
{
    public const string ComponentName = "resnet-attractiveness-trainer";
    public const string LastCheckpointFile = "last.safetensors", BestModelFile = "best.safetensors", FinalModelFile = "resnet-attractiveness.safetensors";

    public string Name => ComponentName;

    /// <summary>The settings that define a run: a checkpoint written under other settings is not resumed.</summary>
    public string Fingerprint()
    {
        // Where files go and how often to log or checkpoint do not change the result.
        var settings = JsonSerializer.SerializeToNode(options)!.AsObject();
        foreach (var key in new[] { nameof(TrainerOptions.CheckpointDirectory), nameof(TrainerOptions.ExportPath), nameof(TrainerOptions.LogEverySteps), nameof(TrainerOptions.CheckpointEverySteps) })
            settings.Remove(key);
        return TrainingCheckpoint.Fingerprint(settings.ToJsonString() + "|seed=" + environment.Seed);
    }

    public string CheckpointDirectory => options.CheckpointDirectory
        ?? Path.Combine(environment.CacheDirectory, "training", $"{ComponentName}-{Fingerprint()}");

    public Task<FineTuneResult> RunAsync(string outputDirectory, ILogger logger, IProgress<double>? progress, CancellationToken cancellationToken) =>
        Task.Run(() => Run(outputDirectory, logger, progress, null, cancellationToken), cancellationToken);

    /// <summary>Runs training; <paramref name="onStep"/> sees every completed step (tests use it to "kill" a run).</summary>
    public FineTuneResult Run(string outputDirectory, ILogger logger, IProgress<double>? progress, Action<TrainingProgressReport>? onStep, CancellationToken ct)
    {
        TorchBackend.EnsureInitialized();
        var device = TorchBackend.ResolveDevice(environment.Device);
        var seed = environment.Seed;
        var data = TrainingData.Load(options, seed);
        foreach (var note in data.Notes) logger.LogWarning("{Trainer}: {Note}", ComponentName, note);
        var train = data.Of(DataSplit.Train);
        var validation = data.Of(DataSplit.Validation);
        var test = data.Of(DataSplit.Test);
        logger.LogInformation("{Trainer}: {Train} train / {Val} validation / {Test} test images ({Split}); {Positive:P1} positive in train",
            ComponentName, train.Count, validation.Count, test.Count, data.SplitDescription, train.Average(e => (double)e.Label));

        var batchSize = Math.Min(options.BatchSize, train.Count);
        // A last batch of one cannot be batch-normalised in training mode; it is dropped (a different one each epoch).
        var batchesPerEpoch = train.Count / batchSize + (train.Count % batchSize >= 2 ? 1 : 0);
        var totalSteps = (long)batchesPerEpoch * options.Epochs;
        var schedule = new CosineWarmupSchedule(options.LearningRate, (long)Math.Round(options.WarmupEpochs * batchesPerEpoch), totalSteps, options.MinLearningRate);
        var computeDType = MixedPrecision.ComputeDType(options.Precision, device);
        var posWeight = options.PosWeight ?? (options.BalanceClasses ? (double)train.Count(e => e.Label == 0) / Math.Max(1, train.Count(e => e.Label == 1)) : (double?)null);
        var augmentation = new AugmentationSettings
        {
            Size = options.ImageSize, ScaleMin = options.Augmentation.ScaleMin, ScaleMax = options.Augmentation.ScaleMax,
            FlipProbability = options.Augmentation.Flip, Brightness = options.Augmentation.Brightness, Contrast = options.Augmentation.Contrast,
            Saturation = options.Augmentation.Saturation, Hue = options.Augmentation.Hue,
        };

        var fingerprint = Fingerprint();
        var dir = CheckpointDirectory;
        Directory.CreateDirectory(dir);
        var lastPath = Path.Combine(dir, LastCheckpointFile);
        var bestPath = Path.Combine(dir, BestModelFile);

        using var model = new ResNetClassifier(ResNetConfig.Hackathon(options.Architecture));
        using (var init = Seeding.Torch(seed, 9001)) ResNetCheckpoint.Initialize(model, init);
        if (options.PretrainedPath is { } pretrained)
        {
            var report = ResNetCheckpoint.LoadBackbone(model, pretrained);
            logger.LogInformation("{Trainer}: backbone from {Path} ({Count} tensors)", ComponentName, pretrained, report.Loaded.Count);
        }
        if (device.type != DeviceType.CPU) model.to(device);
        model.Precision.DType = computeDType;
        // No weight decay on batch-norm parameters and biases (the usual practice for ResNets).
        using var optimizer = new AdamW(model.named_parameters(), weightDecay: options.WeightDecay, decays: (_, p) => p.dim() > 1);

        var position = new TrainingPosition();
        var history = new JsonArray();
        if (File.Exists(lastPath))
        {
            position = TrainingCheckpoint.Restore(lastPath, model, optimizer, fingerprint);
            history = position.Extra["history"] as JsonArray ?? new JsonArray();
            logger.LogInformation("{Trainer}: resuming from {Path} at epoch {Epoch}, step {Step}", ComponentName, lastPath, position.Epoch + 1, position.Step);
        }
        if (history.Parent is null) position.Extra["history"] = history;
        double bestScore = position.Extra["best_score"]?.GetValue<double>() ?? double.NegativeInfinity;
        int sinceBest = position.Extra["epochs_since_best"]?.GetValue<int>() ?? 0;
        bool finished = position.Extra["finished"]?.GetValue<bool>() ?? false;

        logger.LogInformation("{Trainer}: {Architecture}, {Size}px, batch {Batch}, {Epochs} epochs ({Steps} steps), AdamW lr {Lr} wd {Wd}, warm-up {Warmup} steps, {Precision} on {Device}",
            ComponentName, options.Architecture, options.ImageSize, batchSize, options.Epochs, totalSteps, options.LearningRate, options.WeightDecay,
            schedule.WarmupSteps, MixedPrecision.Describe(computeDType), device);

        var scorer = new ClassifierScorer(model, device, options.ImageSize);
        var meter = new ThroughputMeter();
        var clock = Stopwatch.StartNew();
        using var posWeightTensor = posWeight is { } pw ? tensor(new[] { (float)pw }).to(device) : null;
        if (position.Step == 0 && position.Extra["initial_val_loss"] is null)
        {
            // The untrained network's validation loss: the baseline a short run must beat.
            var p0 = scorer.ProbabilitiesOfFiles(validation.Select(e => e.Path).ToList(), options.BatchSize, ct).Select(v => (double)v).ToArray();
            position.Extra["initial_val_loss"] = J(Classification.LogLoss(p0, validation.Select(e => e.Label).ToArray()));
        }
        while (!finished && position.Epoch < options.Epochs)
        {
            var epoch = position.Epoch;
            var order = Seeding.Permutation(train.Count, Seeding.Random(seed, 1001, epoch));
            double lossSum = 0; int lossCount = 0;
            if (position.Extra["epoch_loss_sum"] is { } ls && position.BatchInEpoch > 0) { lossSum = ls.GetValue<double>(); lossCount = position.Extra["epoch_loss_count"]!.GetValue<int>(); }
            var epochClock = Stopwatch.StartNew();
            for (var b = position.BatchInEpoch; b < batchesPerEpoch; b++)
            {
                ct.ThrowIfCancellationRequested();
                var indices = order.Skip(b * batchSize).Take(batchSize).ToArray();
                var lr = schedule.At(position.Step);
                var loss = TrainStep(model, optimizer, train, indices, epoch, seed, augmentation, device, posWeightTensor, lr, options.GradientClip);
                lossSum += loss; lossCount++;
                position.Step++;
                position.BatchInEpoch = b + 1;
                var report = new TrainingProgressReport(position.Step, totalSteps, epoch, options.Epochs, loss, lr, meter.Record(indices.Length));
                progress?.Report(report.Fraction);
                if (position.Step % options.LogEverySteps == 0 || b == batchesPerEpoch - 1) logger.LogInformation("{Trainer}: {Report}", ComponentName, report);
                if (options.CheckpointEverySteps > 0 && position.Step % options.CheckpointEverySteps == 0 && b < batchesPerEpoch - 1)
                {
                    position.Extra["epoch_loss_sum"] = lossSum; position.Extra["epoch_loss_count"] = lossCount;
                    TrainingCheckpoint.Save(lastPath, model, optimizer, position, fingerprint);
                }
                onStep?.Invoke(report);
            }

            // End of epoch: validation, early stopping, best model, checkpoint.
            var valProbabilities = scorer.ProbabilitiesOfFiles(validation.Select(e => e.Path).ToList(), options.BatchSize, ct);
            var valLabels = validation.Select(e => e.Label).ToArray();
            var valP = valProbabilities.Select(p => (double)p).ToArray();
            var auc = Classification.RocAuc(valP, valLabels);
            var valLoss = Classification.LogLoss(valP, valLabels);
            var score = double.IsNaN(auc) ? -valLoss : auc;
            var improved = score > bestScore;
            if (improved)
            {
                bestScore = score; sinceBest = 0;
                ResNetCheckpoint.Save(model, bestPath, ModelMetadata(epoch, auc, null, data));
            }
            else sinceBest++;
            history.Add(new JsonObject
            {
                ["epoch"] = epoch + 1, ["step"] = position.Step, ["train_loss"] = J(lossCount == 0 ? double.NaN : lossSum / lossCount),
                ["val_loss"] = J(valLoss), ["val_roc_auc"] = J(auc), ["val_accuracy"] = J(Classification.Confusion(valP, valLabels, 0.5).Accuracy),
                ["learning_rate"] = schedule.At(position.Step - 1), ["seconds"] = epochClock.Elapsed.TotalSeconds, ["best"] = improved,
            });
            logger.LogInformation("{Trainer}: epoch {Epoch}: train loss {Train:F4}, validation loss {Loss:F4}, ROC-AUC {Auc:F4}{Best}",
                ComponentName, epoch + 1, lossCount == 0 ? double.NaN : lossSum / lossCount, valLoss, auc, improved ? " (best)" : "");
            position.Epoch = epoch + 1;
            position.BatchInEpoch = 0;
            position.Extra.Remove("epoch_loss_sum"); position.Extra.Remove("epoch_loss_count");
            position.Extra["best_score"] = J(bestScore);
            position.Extra["epochs_since_best"] = sinceBest;
            if (options.EarlyStoppingPatience > 0 && sinceBest >= options.EarlyStoppingPatience && position.Epoch < options.Epochs)
            {
                logger.LogInformation("{Trainer}: no better validation ROC-AUC for {N} epoch(s); stopping early after epoch {Epoch}.", ComponentName, sinceBest, position.Epoch);
                finished = true;
            }
            if (position.Epoch >= options.Epochs) finished = true;
            position.Extra["finished"] = finished;
            TrainingCheckpoint.Save(lastPath, model, optimizer, position, fingerprint);
        }
        progress?.Report(1.0);

        // Evaluate the best epoch's weights.
        var best = ResNetCheckpoint.Load(bestPath, device);
        using var bestModel = best.Model;
        var evaluation = Evaluation.Run(new ClassifierScorer(bestModel, device, options.ImageSize), data, options, ct);
        Directory.CreateDirectory(outputDirectory);
        var finalPath = Path.Combine(outputDirectory, FinalModelFile);
        var bestEpoch = int.Parse(best.Metadata.GetValueOrDefault("biasbench.epoch", "0"), CultureInfo.InvariantCulture);
        ResNetCheckpoint.Save(bestModel, finalPath, ModelMetadata(bestEpoch - 1, evaluation.ValidationAuc, evaluation.Threshold, data));
        if (options.ExportPath is { } export)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(export))!);
            File.Copy(finalPath, export, overwrite: true);
            logger.LogInformation("{Trainer}: classifier exported to {Path}", ComponentName, export);
        }
        var log = HistoryTable(history);
        var findings = evaluation.Findings.ToList();
        findings.Insert(0, new Finding($"{ComponentName}: {history.Count} epoch(s) in {clock.Elapsed.TotalMinutes:F1} min this session; best epoch {bestEpoch} " +
                                       $"(validation ROC-AUC {evaluation.ValidationAuc:F3}); {data.SplitDescription}; {train.Count}/{validation.Count}/{test.Count} images."));
        return new FineTuneResult(finalPath, log)
        {
            Metadata = new Dictionary<string, string>
            {
                ["checkpoint_directory"] = dir,
                ["initial_val_loss"] = (position.Extra["initial_val_loss"]?.GetValue<double>() ?? double.NaN).ToString("R", CultureInfo.InvariantCulture),
                ["best_epoch"] = bestEpoch.ToString(CultureInfo.InvariantCulture),
                ["threshold"] = evaluation.Threshold.ToString("R", CultureInfo.InvariantCulture),
            },
            Tables = evaluation.Tables,
            Figures = [evaluation.Reliability, Figures.LearningCurve(log)],
            Findings = findings,
        };
    }

    private static double TrainStep(ResNetClassifier model, AdamW optimizer, IReadOnlyList<Example> train, int[] indices, int epoch, int seed,
        AugmentationSettings augmentation, Device device, Tensor? posWeight, double lr, double clip)
    {
        var chw = new ChwImage[indices.Length];
        Parallel.For(0, indices.Length, k =>
        {
            var example = train[indices[k]];
            RgbImage image;
            try { image = ImageDecoder.DecodeFile(example.Path); }
            catch (Exception e) when (e is ImageDecodeException or IOException)
            {
                throw new InvalidDataException($"Training image '{example.Path}' cannot be read: {e.Message}", e);
            }
            // One generator per (epoch, sample): the same augmentation whatever the batch order, threads or resumption.
            chw[k] = ImageAugmentation.Apply(image, Seeding.Random(seed, 2002, epoch, indices[k]), augmentation);
        });
        using var scope = NewDisposeScope();
        model.train();
        var x = ChwImage.Batch(chw).to(device);
        var y = tensor(indices.Select(i => (float)train[i].Label).ToArray(), [indices.Length, 1L]).to(device);
        var logits = model.forward(x);
        var loss = Loss(logits, y, posWeight);
        optimizer.ZeroGrad();
        loss.backward();
        if (clip > 0) GradientClipping.ClipByGlobalNorm(model.parameters(), clip);
        optimizer.Update(lr);
        var value = loss.item<float>();
        if (!float.IsFinite(value)) throw new InvalidOperationException($"Training diverged: loss {value} at epoch {epoch + 1} (lower learning_rate).");
        return value;
    }

    /// <summary>The training loss: mean BCE with logits, positives' terms weighted by <paramref name="posWeight"/> (torch's
    /// BCEWithLogitsLoss(pos_weight)): mean(-(w * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))).</summary>
    public static Tensor Loss(Tensor logits, Tensor labels, Tensor? posWeight) =>
        nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weights: posWeight);

    /// <summary>JSON has no NaN: missing metrics (e.g. ROC-AUC of a one-class split) are stored as null.</summary>
    private static JsonNode? J(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;

    private IReadOnlyDictionary<string, string> ModelMetadata(int epoch, double validationAuc, double? threshold, TrainingData data)
    {
        var meta = new Dictionary<string, string>
        {
            ["biasbench.epoch"] = (epoch + 1).ToString(CultureInfo.InvariantCulture),
            ["biasbench.validation_roc_auc"] = validationAuc.ToString("R", CultureInfo.InvariantCulture),
            [ResNetJudge.ImageSizeMetadataKey] = options.ImageSize.ToString(CultureInfo.InvariantCulture),
            [ResNetJudge.LabelMetadataKey] = options.LabelColumn,
            ["biasbench.preprocessing"] = $"Resize(({options.ImageSize}, {options.ImageSize})) PIL bilinear, ToTensor, Normalize(ImageNet)",
            ["biasbench.split"] = data.SplitDescription,
            ["biasbench.seed"] = environment.Seed.ToString(CultureInfo.InvariantCulture),
            ["biasbench.settings"] = Fingerprint(),
        };
        if (threshold is { } t) meta[ResNetJudge.ThresholdMetadataKey] = t.ToString("R", CultureInfo.InvariantCulture);
        return meta;
    }

    private static DataTable HistoryTable(JsonArray history)
    {
        static double Num(JsonNode? n) => n is null ? double.NaN : double.Parse(n.ToJsonString(), CultureInfo.InvariantCulture);
        var rows = history.Select(h => h!.AsObject()).ToList();
        return new DataTable("training_log") { Caption = "Per epoch: mean training loss, validation loss / ROC-AUC / accuracy at 0.5, learning rate at the epoch's end, seconds, whether it was the best so far." }
            .Add("epoch", rows.Select(r => Num(r["epoch"])).ToArray())
            .Add("step", rows.Select(r => Num(r["step"])).ToArray())
            .Add("train_loss", rows.Select(r => Num(r["train_loss"])).ToArray())
            .Add("val_loss", rows.Select(r => Num(r["val_loss"])).ToArray())
            .Add("val_roc_auc", rows.Select(r => Num(r["val_roc_auc"])).ToArray())
            .Add("val_accuracy", rows.Select(r => Num(r["val_accuracy"])).ToArray())
            .Add("learning_rate", rows.Select(r => Num(r["learning_rate"])).ToArray())
            .Add("seconds", rows.Select(r => Num(r["seconds"])).ToArray())
            .Add("best", rows.Select(r => r["best"]!.GetValue<bool>() ? 1.0 : 0.0).ToArray());
    }
}
