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
        var config = ExperimentConfigLoader.Load(path, name => faces?.GetValueOrDefault(name) ?? Environment.GetEnvironmentVariable(name));
        var planned = app.Plan(config);
        Assert.NotEmpty(planned);
    }
}
