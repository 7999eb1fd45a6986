using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Data;
using BiasBench.Networks.Vision;
using BiasBench.Plugins.ResNetJudge.Training;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.ResNetJudge.Tests;

/// <summary>
/// The trainer fed from CelebA attribute files (real rows of the shipped list_attr_celeba, real CelebA test photos; see
/// <see cref="CelebASample"/>): CelebA's layout with list_eval_partition.txt found beside the attribute file, and
/// CelebAMask-HQ's layout with a seeded stratified split. The label is Attractive by default.
/// </summary>
public sealed class CelebATrainingTests(ITestOutputHelper output)
{
    private static RunEnvironment Env(string dir) => new("cpu", dir, dir, Path.Combine(dir, "cache"), Seed: 5);

    [Fact]
    public void CelebA_attributes_with_the_official_partition_are_read_split_and_trained_on()
    {
        using var sample = new CelebASample(24);
        var split = sample.BalancedPartition("Attractive", perClass: 2);
        // One image left out of the partition file, one listed id without an image: both must be tolerated.
        var unlisted = sample.Ids[^1];
        sample.WritePartition(sample.Ids.Where(id => id != unlisted).Select(id => (id, split[id])).Append(("199999", 0)));
        var options = new TrainerOptions
        {
            ImagesDirectory = sample.Images,
            AttributesFile = sample.AttributesFile,
            ImageSize = 32,
            BatchSize = 8,
            Epochs = 2,
            WarmupEpochs = 0.5,
            LearningRate = 1e-3,
            EarlyStoppingPatience = 0,
            CheckpointDirectory = Path.Combine(sample.Root, "checkpoints"),
        };
        Assert.Equal("Attractive", options.LabelColumn);

        var data = TrainingData.Load(options, seed: 5);
        Assert.Contains("official partition list_eval_partition.txt", data.SplitDescription);
        Assert.Equal(sample.Ids.Where(id => id != unlisted).Order(StringComparer.Ordinal), data.Examples.Select(e => e.Id));
        Assert.Contains(data.Notes, n => n.Contains("1 image(s) are not in"));
        foreach (var e in data.Examples)
        {
            Assert.Equal(sample.Labels["Attractive"][e.Id], e.Label);
            Assert.Equal((DataSplit)split[e.Id], e.Split);
            Assert.Equal(Path.Combine(sample.Images, e.Id + ".jpg"), e.Path);
            Assert.Equal(sample.Labels["Male"][e.Id].ToString(CultureInfo.InvariantCulture), e.Groups["Male"]);
            Assert.Equal(sample.Labels["Young"][e.Id].ToString(CultureInfo.InvariantCulture), e.Groups["Young"]);
        }
        Assert.Equal(["Male", "Young"], data.GroupColumns);
        Assert.Equal(4, data.Of(DataSplit.Validation).Count);
        Assert.Equal(4, data.Of(DataSplit.Test).Count);
        Assert.Equal(sample.Ids.Count - 1 - 8, data.Of(DataSplit.Train).Count);
        Assert.All(new[] { DataSplit.Validation, DataSplit.Test }, s => Assert.Equal(2, data.Of(s).Count(e => e.Label == 1)));

        var outDir = Path.Combine(sample.Root, "out");
        var result = new JudgeTrainer(options, Env(sample.Root)).Run(outDir, NullLogger.Instance, null, null, CancellationToken.None);
        output.WriteLine(string.Join("\n", result.Findings.Select(f => f.Text)));
        Assert.Equal(2, result.TrainingLog.RowCount);
        Assert.All(result.TrainingLog.Numeric("train_loss").Values, v => Assert.True(double.IsFinite(v) && v > 0));
        Assert.Equal(Path.Combine(outDir, JudgeTrainer.FinalModelFile), result.CheckpointPath);
        foreach (var file in new[] { JudgeTrainer.LastCheckpointFile, JudgeTrainer.BestModelFile })
            Assert.True(File.Exists(Path.Combine(options.CheckpointDirectory, file)), file);

        var loaded = ResNetCheckpoint.Load(result.CheckpointPath);
        loaded.Model.Dispose();
        Assert.Equal("Attractive", loaded.Metadata[ResNetJudge.LabelMetadataKey]);
        Assert.Equal("32", loaded.Metadata[ResNetJudge.ImageSizeMetadataKey]);
        Assert.Contains("official partition", loaded.Metadata["biasbench.split"]);
        Assert.True(loaded.Metadata.ContainsKey(ResNetJudge.ThresholdMetadataKey));

        var metrics = result.Tables.Single(t => t.Name == "metrics");
        Assert.Equal(new string?[] { "validation", "test" }, metrics.Text("split").Values);
        Assert.All(metrics.Numeric("roc_auc").Values, v => Assert.InRange(v, 0, 1));
        var perGroup = result.Tables.Single(t => t.Name == "per_group");
        Assert.Equal(["Male", "Young"], perGroup.Text("group_column").Values.Distinct().Order());
    }

    [Fact]
    public void CelebAMask_HQ_layout_is_read_with_a_seeded_stratified_split()
    {
        using var sample = new CelebASample(24, maskHq: true);
        var options = new TrainerOptions
        {
            ImagesDirectory = sample.Images,
            AttributesFile = sample.AttributesFile,
            ValidationFraction = 0.25,
            TestFraction = 0.2,
        };
        var data = TrainingData.Load(options, seed: 5);
        Assert.Contains("seeded stratified split", data.SplitDescription);
        Assert.Equal(sample.Ids.Order(StringComparer.Ordinal), data.Examples.Select(e => e.Id));
        foreach (var e in data.Examples) Assert.Equal(sample.Labels["Attractive"][e.Id], e.Label);
        foreach (var cls in new[] { 0, 1 })
        {
            var n = sample.Ids.Count(id => sample.Labels["Attractive"][id] == cls);
            var nTest = (int)Math.Round(n * 0.2, MidpointRounding.AwayFromZero);
            var nVal = (int)Math.Round(n * 0.25, MidpointRounding.AwayFromZero);
            Assert.Equal(nTest, data.Of(DataSplit.Test).Count(e => e.Label == cls));
            Assert.Equal(nVal, data.Of(DataSplit.Validation).Count(e => e.Label == cls));
            Assert.Equal(n - nTest - nVal, data.Of(DataSplit.Train).Count(e => e.Label == cls));
        }
        // Another label column of the same file.
        options.LabelColumn = "Smiling";
        Assert.All(TrainingData.Load(options, seed: 5).Examples, e => Assert.Equal(sample.Labels["Smiling"][e.Id], e.Label));
    }
}
