using BiasBench.Host.Configuration;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Configuration;

/// <summary>Every config shipped in configs/ must validate against the built-in plugins (names, options, files).</summary>
public class ShippedConfigsTests
{
    public static TheoryData<string> Configs()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "configs"), "*.yaml").Order()) data.Add(Path.GetFileName(f));
        return data;
    }

    /// <summary>
    /// Configs whose inputs are not shipped (CelebA-HQ, ImageNet weights, a trained classifier) name them through
    /// environment variables; here they point at small files of the same kind so that the rest still validates.
    /// </summary>
    private static string? StandIns(string name) => name switch
    {
        "RESNET_ATTRACTIVENESS_CHECKPOINT" => Fixtures.File("resnet_attractiveness/model.safetensors"),
        "RESNET18_IMAGENET" => Fixtures.File("resnet_attractiveness/model.safetensors"),
        "CELEBAHQ_IMAGES" => Fixtures.Data("celeba/test_img"),
        "CELEBAHQ_ATTRIBUTES" => Fixtures.Data("celeba/list_attr_celeba_first20k.txt"),
        _ => Environment.GetEnvironmentVariable(name),
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public async Task Validates(string file)
    {
        var dir = TestApp.TempDir();
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var path = Path.Combine(Fixtures.RepoRoot, "configs", file);
        // Configs over data sets that are not shipped (SCUT-FBP5500, CelebA images) get small real stand-ins.
        var faces = Runs.FaceDataSets.Variables.Any(v => File.ReadAllText(path).Contains("${" + v, StringComparison.Ordinal))
            ? Runs.FaceDataSets.Build(dir) : null;
        var config = ExperimentConfigLoader.Load(path, name => faces?.GetValueOrDefault(name) ?? StandIns(name));
        // Model weights are not downloaded in tests: like 'biasbench validate', list them instead of failing, and check
        // that each says how to get it ('biasbench run' refuses to start until they are there).
        var missingWeights = new List<string>();
        var planned = app.Plan(config, missingWeights: missingWeights);
        Assert.NotEmpty(planned);
        Assert.All(missingWeights, m => Assert.Contains("biasbench models download", m));
    }
}
