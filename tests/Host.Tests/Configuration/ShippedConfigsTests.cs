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
        await using var app = await TestApp.StartAsync(Path.Combine(TestApp.TempDir(), "runs"));
        var config = ExperimentConfigLoader.Load(Path.Combine(Fixtures.RepoRoot, "configs", file));
        // Model weights are not downloaded in tests: like 'biasbench validate', list them instead of failing, and check
        // that each says how to get it ('biasbench run' refuses to start until they are there).
        var missingWeights = new List<string>();
        var planned = app.Plan(config, missingWeights);
        Assert.NotEmpty(planned);
        Assert.All(missingWeights, m => Assert.Contains("biasbench models download", m));
    }
}
