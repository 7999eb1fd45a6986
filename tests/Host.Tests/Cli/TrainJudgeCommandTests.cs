using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Cli;

/// <summary>`biasbench train-judge` through the real command line: a tiny training run writes the classifier, the metrics tables and the figures.</summary>
public class TrainJudgeCommandTests
{
    [Fact]
    public async Task Train_judge_runs_the_trainer_and_writes_metrics_figures_and_the_classifier()
    {
        var images = Fixtures.Data("hackathon/sdxl");
        var labels = Fixtures.Data("hackathon/result_sdxl.json");
        var dir = TestApp.TempDir();
        var yaml = Path.Combine(dir, "train.yaml");
        var export = Path.Combine(dir, "exported", "classifier.safetensors");
        File.WriteAllText(yaml, $"""
            experiment: tiny-judge
            seed: 1
            stages:
              - id: train
                kind: finetune
                plugin: resnet-attractiveness-trainer
                options:
                  images_directory: {images}
                  labels_file: {labels}
                  id_column: id
                  label_column: attractive
                  positive_values: ["2"]
                  limit: 16
                  validation_fraction: 0.25
                  test_fraction: 0.25
                  image_size: 32
                  batch_size: 8
                  epochs: 1
                  export_path: {export}
              - kind: report
            """);
        var runs = Path.Combine(dir, "runs");
        var exit = await Program.BuildCommandLine().Parse(["train-judge", yaml, "--runs-dir", runs, "--cache-dir", Path.Combine(dir, "cache"), "--no-progress", "--device", "cpu"]).InvokeAsync();
        Assert.Equal(Program.ExitOk, exit);
        Assert.True(File.Exists(export));
        var run = Directory.GetDirectories(runs).Single();
        foreach (var table in new[] { "train-training_log", "train-metrics", "train-confusion", "train-per_group", "train-reliability" })
            Assert.True(File.Exists(Path.Combine(run, "tables", table + ".csv")), $"missing table {table}");
        Assert.True(File.Exists(Path.Combine(run, "figures", "train-reliability.png")));
        Assert.True(File.Exists(Path.Combine(run, "figures", "train-reliability.svg")));
        Assert.True(File.Exists(Path.Combine(run, "finetune", "train", "resnet-attractiveness.safetensors")));
        Assert.Contains("ROC-AUC", File.ReadAllText(Path.Combine(run, "report.md")));
    }

    [Fact]
    public async Task Train_judge_refuses_a_config_without_a_trainer_stage()
    {
        var dir = TestApp.TempDir();
        var yaml = Path.Combine(dir, "not-training.yaml");
        File.WriteAllText(yaml, """
            experiment: nothing-to-train
            stages:
              - kind: report
            """);
        var exit = await Program.BuildCommandLine().Parse(["train-judge", yaml, "--runs-dir", Path.Combine(dir, "runs")]).InvokeAsync();
        Assert.Equal(Program.ExitInvalidConfig, exit);
        Assert.False(Directory.Exists(Path.Combine(dir, "runs")));
    }
}
