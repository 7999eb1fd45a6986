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
        var planned = app.Plan(config);
        Assert.NotEmpty(planned);
    }
}
