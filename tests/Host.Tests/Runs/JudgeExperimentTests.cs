using BiasBench.Host.Configuration;
using BiasBench.Networks.Vision;
using BiasBench.TestSupport;
using BiasBench.Training;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// configs/judge-hackathon-faces.yaml end to end on the CPU. A small classifier saved here in the BiasBench format (a
/// one-block-per-stage ResNet with the hackathon head, 64 px in its metadata) stands in for the trained ResNet-18,
/// so the 360 images are judged in seconds; the judge's numbers themselves are checked against the reference in
/// the plugin's tests.
/// </summary>
public class JudgeExperimentTests
{
    private static readonly string ConfigPath = Path.Combine(Fixtures.RepoRoot, "configs", "judge-hackathon-faces.yaml");

    [Fact]
    public async Task The_hackathon_faces_are_judged_and_the_attractive_share_compared_per_generator()
    {
        Fixtures.Data("hackathon/sdxl");
        BiasBench.Torch.Backend.TorchBackend.EnsureInitialized();
        var dir = TestApp.TempDir();
        var checkpoint = Path.Combine(dir, "classifier.safetensors");
        using (var model = new ResNetClassifier(new ResNetConfig(ResNetBlockKind.Basic, [1, 1, 1, 1], 32, [16, 1])))
        {
            using var init = Seeding.Torch(1, 2);
            ResNetCheckpoint.Initialize(model, init);
            ResNetCheckpoint.Save(model, checkpoint, new Dictionary<string, string> { ["biasbench.image_size"] = "64", ["biasbench.threshold"] = "0.5" });
        }
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(ConfigPath, name => name == "RESNET_ATTRACTIVENESS_CHECKPOINT" ? checkpoint : Environment.GetEnvironmentVariable(name));
        var (_, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);

        var judged = outputs.Single(o => o.Stage.Id == "judge-sdxl").Primary!;
        Assert.Equal(300, judged.RowCount);
        Assert.All(judged.Text("error").Values, Assert.Null);
        Assert.All(judged.Numeric("p_attractive").Values, p => Assert.InRange(p, 0, 1));
        Assert.Equal(100, judged.Text("condition").Values.Count(c => c == "attractive"));
        Assert.All(judged.Text("generator").Values, g => Assert.Equal("SDXL", g));

        var shift = outputs.Single(o => o.Stage.Id == "judged-attractive").Primary!;
        Assert.Equal(new string?[] { "judge-sdxl", "judge-flux", "judge-z" }, shift.Text("label").Values);
        Assert.Equal(new[] { 100.0, 10, 10 }, shift.Numeric("n_before").Values);
        Assert.Equal(new[] { 100.0, 10, 10 }, shift.Numeric("n_after").Values);

        var rewards = outputs.Single(o => o.Stage.Id == "rewards-vs-classifier-sdxl");
        Assert.NotEmpty(rewards.Tables);
        Assert.NotEmpty(outputs.Single(o => o.Stage.Id == "rewards-prompt-effect").Tables);
    }

    [Fact]
    public async Task Without_a_trained_classifier_the_run_stops_before_any_work_naming_the_file()
    {
        var dir = TestApp.TempDir();
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var missing = Path.Combine(dir, "no-such-classifier.safetensors");
        var config = ExperimentConfigLoader.Load(ConfigPath, name => name == "RESNET_ATTRACTIVENESS_CHECKPOINT" ? missing : Environment.GetEnvironmentVariable(name));
        var e = Assert.Throws<ConfigException>(() => app.Plan(config));
        Assert.Contains(e.Problems, p => p.ToString().Contains("checkpoint_path") && p.ToString().Contains("no-such-classifier.safetensors"));
        Assert.Empty(Directory.Exists(Path.Combine(dir, "runs")) ? Directory.GetDirectories(Path.Combine(dir, "runs")) : []);
    }
}
