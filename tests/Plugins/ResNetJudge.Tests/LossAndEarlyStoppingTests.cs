using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Data;
using BiasBench.Plugins.ResNetJudge.Training;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ResNetJudge.Tests;

/// <summary>
/// pos_weight, balance_classes and early stopping on validation ROC-AUC, each checked so that ignoring it fails the test.
/// Runs on the tiny CelebA sample (<see cref="CelebASample"/>) at 32 px.
/// </summary>
public sealed class LossAndEarlyStoppingTests(ITestOutputHelper output)
{
    private static RunEnvironment Env(string dir) => new("cpu", dir, dir, Path.Combine(dir, "cache"), Seed: 11);

    [Fact]
    public void The_loss_is_torchs_pos_weighted_BCE_with_logits_on_a_known_batch()
    {
        double[] x = [-2.0, -0.5, 0.0, 0.7, 3.0, 1.5];
        double[] y = [1, 0, 1, 0, 1, 0];
        // BCEWithLogitsLoss(pos_weight=w), mean reduction: mean(-(w * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))).
        static double Expected(double[] x, double[] y, double w) =>
            x.Select((xi, i) => -(w * y[i] * Math.Log(1 / (1 + Math.Exp(-xi))) + (1 - y[i]) * Math.Log(1 - 1 / (1 + Math.Exp(-xi))))).Average();
        using var logits = tensor(x.Select(v => (float)v).ToArray(), [x.Length, 1L]);
        using var labels = tensor(y.Select(v => (float)v).ToArray(), [y.Length, 1L]);
        foreach (var w in new[] { 0.0, 0.25, 1.0, 3.5 })
        {
            using var pw = tensor(new[] { (float)w });
            using var loss = JudgeTrainer.Loss(logits, labels, pw);
            Assert.Equal(Expected(x, y, w), loss.item<float>(), 1e-6);
        }
        using var unweighted = JudgeTrainer.Loss(logits, labels, null);
        Assert.Equal(Expected(x, y, 1.0), unweighted.item<float>(), 1e-6);
    }

    /// <summary>
    /// The first step's loss, before any update, is linear in pos_weight: L(w) = N + w * P (N, P the negatives' and
    /// positives' mean terms of the first batch). Runs with w = 0, 1, 3 and balance_classes, each stopped after step 1,
    /// check that: L(3) = L(0) + 3 (L(1) - L(0)), and balance_classes uses w = negatives / positives of the training split.
    /// </summary>
    [Fact]
    public void Pos_weight_and_balance_classes_weight_the_positive_terms_of_the_training_loss()
    {
        using var sample = new CelebASample(24);
        var split = sample.BalancedPartition("Attractive", perClass: 1);
        // Leave four training positives out of the partition, so the training split is imbalanced (weight != 1).
        var dropped = sample.Ids.Where(id => split[id] == 0 && sample.Labels["Attractive"][id] == 1).Take(4).ToHashSet();
        sample.WritePartition(sample.Ids.Where(id => !dropped.Contains(id)).Select(id => (id, split[id])));

        TrainerOptions Options(string name, double? posWeight, bool balance) => new()
        {
            ImagesDirectory = sample.Images, AttributesFile = sample.AttributesFile, ImageSize = 32, BatchSize = 64, Epochs = 2,
            PosWeight = posWeight, BalanceClasses = balance, EarlyStoppingPatience = 0,
            CheckpointDirectory = Path.Combine(sample.Root, name),
        };
        var train = TrainingData.Load(Options("probe", null, false), seed: 11).Of(DataSplit.Train);
        var ratio = (double)train.Count(e => e.Label == 0) / train.Count(e => e.Label == 1);
        Assert.NotEqual(1.0, ratio);

        double FirstStepLoss(string name, double? posWeight, bool balance)
        {
            double? loss = null;
            using var cts = new CancellationTokenSource();
            // BatchSize exceeds the training split: the first (and only) batch of epoch 1 is the whole split.
            Assert.ThrowsAny<OperationCanceledException>(() => new JudgeTrainer(Options(name, posWeight, balance), Env(sample.Root))
                .Run(Path.Combine(sample.Root, "out-" + name), NullLogger.Instance, null, r => { loss ??= r.Loss; cts.Cancel(); }, cts.Token));
            return loss!.Value;
        }
        var l0 = FirstStepLoss("w0", 0, false);
        var l1 = FirstStepLoss("w1", 1, false);
        var l3 = FirstStepLoss("w3", 3, false);
        var lBalanced = FirstStepLoss("balanced", null, true);
        var lDefault = FirstStepLoss("default", null, false);
        output.WriteLine($"first-step loss: w=0 {l0:R}, w=1 {l1:R}, w=3 {l3:R}, balanced (w={ratio:R}) {lBalanced:R}, default {lDefault:R}");

        Assert.True(l0 > 0 && l1 - l0 > 0, "both classes must contribute to the first batch's loss");
        // float32 loss: relative 1e-5 covers the rounding of two means of a few float32 terms.
        var tolerance = 1e-5 * l3;
        Assert.Equal(l0 + 3 * (l1 - l0), l3, tolerance);
        Assert.Equal(l0 + ratio * (l1 - l0), lBalanced, tolerance);
        Assert.Equal(l1, lDefault, tolerance);
        Assert.True(Math.Abs(lBalanced - l1) > 100 * tolerance, "balance_classes left the loss unweighted");
    }

    /// <summary>
    /// With one positive and one negative in validation, ROC-AUC can only be 0, 0.5 or 1, so it improves at most twice
    /// after epoch 1 and a run with patience 2 must stop by epoch 1 + 2 * 2 + 2 = 7 of 8: early stopping cannot be
    /// ignored without failing. The classifier kept is the best epoch's, not the last.
    /// </summary>
    [Fact]
    public void Early_stopping_on_validation_roc_auc_stops_after_patience_epochs_and_keeps_the_best()
    {
        const int patience = 2, epochs = 8;
        using var sample = new CelebASample(24);
        var split = sample.BalancedPartition("Attractive", perClass: 1);
        sample.WritePartition(sample.Ids.Select(id => (id, split[id])));
        var options = new TrainerOptions
        {
            ImagesDirectory = sample.Images, AttributesFile = sample.AttributesFile, ImageSize = 32, BatchSize = 10, Epochs = epochs,
            LearningRate = 3e-3, WarmupEpochs = 0, EarlyStoppingPatience = patience,
            CheckpointDirectory = Path.Combine(sample.Root, "checkpoints"),
        };
        var result = new JudgeTrainer(options, Env(sample.Root)).Run(Path.Combine(sample.Root, "out"), NullLogger.Instance, null, null, CancellationToken.None);
        var log = result.TrainingLog;
        var best = log.Numeric("best").Values.Select(v => v == 1).ToArray();
        var auc = log.Numeric("val_roc_auc").Values;
        output.WriteLine($"epochs run {log.RowCount}; validation ROC-AUC {string.Join(", ", auc)}; best {string.Join(", ", best)}");

        Assert.True(log.RowCount < epochs, "the run should have stopped early");
        Assert.True(best[0]);
        // Stopped exactly when `patience` epochs in a row brought no improvement, and not before.
        var sinceBest = 0;
        for (var e = 0; e < log.RowCount; e++)
        {
            sinceBest = best[e] ? 0 : sinceBest + 1;
            if (e < log.RowCount - 1) Assert.True(sinceBest < patience, $"should have stopped after epoch {e + 1}");
        }
        Assert.Equal(patience, sinceBest);
        // "Best" means a strictly higher ROC-AUC than every earlier epoch.
        var running = double.NegativeInfinity;
        for (var e = 0; e < log.RowCount; e++) { Assert.Equal(auc[e] > running, best[e]); running = Math.Max(running, auc[e]); }

        var bestEpoch = Array.FindLastIndex(best, b => b) + 1;
        Assert.Equal(bestEpoch.ToString(CultureInfo.InvariantCulture), result.Metadata["best_epoch"]);
        using var final = SafeTensorsFile.Open(result.CheckpointPath);
        Assert.Equal(bestEpoch.ToString(CultureInfo.InvariantCulture), final.Metadata["biasbench.epoch"]);
        Assert.Equal(auc[bestEpoch - 1], double.Parse(final.Metadata["biasbench.validation_roc_auc"], CultureInfo.InvariantCulture), 12);
        using var bestFile = SafeTensorsFile.Open(Path.Combine(options.CheckpointDirectory, JudgeTrainer.BestModelFile));
        using var last = SafeTensorsFile.Open(Path.Combine(options.CheckpointDirectory, JudgeTrainer.LastCheckpointFile));
        Assert.Equal(bestFile.Entries.Keys.Order(), final.Entries.Keys.Order());
        var differsFromLast = false;
        foreach (var name in final.Entries.Keys)
        {
            using var f = final.Load(name);
            using var b = bestFile.Load(name);
            Assert.True(f.bytes.SequenceEqual(b.bytes), $"{name}: the final classifier is not the best epoch's");
            if (last.Entries.ContainsKey("model." + name))
            {
                using var l = last.Load("model." + name);
                differsFromLast |= !f.bytes.SequenceEqual(l.bytes);
            }
        }
        Assert.True(differsFromLast, "the final classifier equals the last epoch's weights, not the best's");
    }
}
