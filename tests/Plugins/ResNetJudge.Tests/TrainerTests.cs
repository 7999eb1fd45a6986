using BiasBench.Abstractions;
using BiasBench.Data;
using BiasBench.Networks.Vision;
using BiasBench.Plugins.ResNetJudge.Training;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ResNetJudge.Tests;

/// <summary>
/// The trainer on real images (the hackathon's SDXL faces, labels from result_sdxl.json: 2 = attractive), kept tiny so it
/// runs in seconds on two cores: a short run lowers the validation loss, and a run killed mid-epoch continues exactly.
/// </summary>
public sealed class TrainerTests(ITestOutputHelper output)
{
    private static TrainerOptions Tiny(string checkpoints) => new()
    {
        ImagesDirectory = Fixtures.Data("hackathon/sdxl"),
        LabelsFile = Fixtures.Data("hackathon/result_sdxl.json"),
        IdColumn = "id",
        LabelColumn = "attractive",
        PositiveValues = ["2"],
        Limit = 24,
        ValidationFraction = 0.25,
        TestFraction = 0.15,
        ImageSize = 64,
        BatchSize = 8,
        Epochs = 2,
        LearningRate = 1e-3,
        WarmupEpochs = 0.5,
        EarlyStoppingPatience = 0,
        CheckpointDirectory = checkpoints,
        Augmentation = new AugmentationOptions { ScaleMin = 0.5 },
    };

    private static RunEnvironment Env(string dir) => new("cpu", dir, dir, Path.Combine(dir, "cache"), Seed: 3);

    [Fact]
    public void Labels_and_a_seeded_stratified_split_come_from_the_hackathon_json()
    {
        var dir = Directory.CreateTempSubdirectory("judge-data-").FullName;
        try
        {
            var options = Tiny(dir);
            options.Limit = null;
            var data = TrainingData.Load(options, seed: 3);
            Assert.Equal(300, data.Examples.Count);
            Assert.Equal(112, data.Examples.Count(e => e.Label == 1));
            Assert.Contains("gender", data.GroupColumns);
            var test = data.Of(DataSplit.Test);
            Assert.Equal(Math.Round(112 * 0.15, MidpointRounding.AwayFromZero) + Math.Round(188 * 0.15, MidpointRounding.AwayFromZero), test.Count);
            Assert.Equal(data.Examples.Select(e => e.Split), TrainingData.Load(options, seed: 3).Examples.Select(e => e.Split));
            Assert.NotEqual(data.Examples.Select(e => e.Split), TrainingData.Load(options, seed: 4).Examples.Select(e => e.Split));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_short_run_lowers_the_validation_loss_and_writes_the_metrics()
    {
        var dir = Directory.CreateTempSubdirectory("judge-train-").FullName;
        try
        {
            var trainer = new JudgeTrainer(Tiny(Path.Combine(dir, "checkpoints")), Env(dir));
            var result = trainer.Run(Path.Combine(dir, "out"), NullLogger.Instance, null, null, CancellationToken.None);
            var initial = double.Parse(result.Metadata["initial_val_loss"], System.Globalization.CultureInfo.InvariantCulture);
            var losses = result.TrainingLog.Numeric("val_loss").Values;
            output.WriteLine($"validation loss: initial {initial:F4}, per epoch {string.Join(", ", losses.Select(l => l.ToString("F4")))}");
            Assert.True(losses.Min() < initial, $"validation loss never went below the untrained {initial}");
            Assert.True(File.Exists(result.CheckpointPath));
            var loaded = ResNetCheckpoint.Load(result.CheckpointPath);
            loaded.Model.Dispose();
            Assert.True(loaded.Metadata.ContainsKey(ResNetJudge.ThresholdMetadataKey));
            var names = result.Tables.Select(t => t.Name).ToList();
            Assert.Equal(["metrics", "confusion", "per_group", "reliability"], names);
            var metrics = result.Tables[0];
            Assert.Equal(new string?[] { "validation", "test" }, metrics.Text("split").Values);
            Assert.All(metrics.Numeric("ece").Values, v => Assert.InRange(v, 0, 1));
            Assert.Contains(result.Figures, f => f.Name == "reliability" && f.Png.Length > 0 && f.Svg!.Contains("<svg"));
            Assert.Contains("gender", result.Tables[2].Text("group_column").Values);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_run_killed_mid_epoch_resumes_to_the_same_bits()
    {
        var dir = Directory.CreateTempSubdirectory("judge-resume-").FullName;
        try
        {
            var straight = Tiny(Path.Combine(dir, "a"));
            new JudgeTrainer(straight, Env(dir)).Run(Path.Combine(dir, "out-a"), NullLogger.Instance, null, null, CancellationToken.None);

            var killed = Tiny(Path.Combine(dir, "b"));
            killed.CheckpointEverySteps = 1;
            using (var cts = new CancellationTokenSource())
            {
                // "Kill" after the 3rd step (mid-way through epoch 2: 2 steps per epoch here); nothing is saved on the way out.
                Assert.ThrowsAny<OperationCanceledException>(() => new JudgeTrainer(killed, Env(dir)).Run(Path.Combine(dir, "out-b"), NullLogger.Instance, null,
                    r => { if (r.Step == 3) cts.Cancel(); }, cts.Token));
            }
            var position = BiasBench.Training.TrainingCheckpoint.PeekPosition(Path.Combine(dir, "b", JudgeTrainer.LastCheckpointFile))!;
            Assert.Equal(3, position.Step);
            Assert.True(position.BatchInEpoch > 0, "the kill should land mid-epoch");
            var resumed = new JudgeTrainer(killed, Env(dir)).Run(Path.Combine(dir, "out-b"), NullLogger.Instance, null, null, CancellationToken.None);

            using var a = SafeTensorsFile.Open(Path.Combine(dir, "a", JudgeTrainer.LastCheckpointFile));
            using var b = SafeTensorsFile.Open(Path.Combine(dir, "b", JudgeTrainer.LastCheckpointFile));
            Assert.Equal(a.Entries.Keys.Order(), b.Entries.Keys.Order());
            foreach (var name in a.Entries.Keys)
            {
                using var ta = a.Load(name);
                using var tb = b.Load(name);
                Assert.True(ta.bytes.SequenceEqual(tb.bytes), $"{name} differs after resume");
            }
            Assert.Equal(2, resumed.TrainingLog.RowCount);
        }
        finally { Directory.Delete(dir, true); }
    }
}
