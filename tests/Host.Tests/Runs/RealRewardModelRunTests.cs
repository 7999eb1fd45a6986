using BiasBench.Host.Configuration;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// The scoring stage end to end with a built-in reward plugin and real (fixture) weights, from YAML: images from a
/// folder, scored by the exported PickScore-style ONNX model, written to the score table, and cached by weights
/// checksum so a rerun computes nothing.
/// </summary>
public class RealRewardModelRunTests
{
    [Fact]
    public async Task Onnx_reward_scores_an_image_folder_from_yaml_and_resumes_from_the_cache()
    {
        var model = Directory.GetFiles(Fixtures.Path_("onnx_clip"), "*.onnx").Single();
        var vocab = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz");
        var dir = TestApp.TempDir();
        var images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        foreach (var png in Directory.GetFiles(Fixtures.Path_("preprocess"), "*.png", SearchOption.AllDirectories).Take(3))
            File.Copy(png, Path.Combine(images, Path.GetFileName(png)), overwrite: true);
        File.WriteAllBytes(Path.Combine(images, "broken.png"), [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
        var yaml = Path.Combine(dir, "score.yaml");
        File.WriteAllText(yaml, $"""
            experiment: onnx-score
            stages:
              - id: faces
                kind: data
                plugin: image-folder
                options: {"{"} directory: {images}, prompt: "a portrait photo of a face" {"}"}
              - id: scores
                kind: score
                plugin: onnx-reward
                options:
                  model_path: {model}
                  bpe_vocab_path: {vocab}
                  output: logits_per_image
                  reduce: diagonal
                  score_name: pickscore-onnx
            """);

        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(yaml);
        var (_, first) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var scores = first.Single(o => o.Stage.Id == "scores");
        var values = scores.Primary!.Numeric("pickscore-onnx").Values;
        Assert.Equal(4, values.Length);
        Assert.Equal(3, values.Count(double.IsFinite));
        Assert.Equal(1, scores.ItemsFailed);
        Assert.Contains(scores.Tables[1].Text("error").Values, e => e is not null && e.Contains("broken.png"));
        Assert.Equal(64, scores.RewardModels["pickscore-onnx"].WeightsChecksum!.Length);

        var (_, second) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var again = second.Single(o => o.Stage.Id == "scores");
        Assert.Equal((0, 3, 1), (again.ItemsComputed, again.ItemsFromCache, again.ItemsFailed));
        Assert.Equal(values.Where(double.IsFinite), again.Primary!.Numeric("pickscore-onnx").Values.Where(double.IsFinite));
    }
}
