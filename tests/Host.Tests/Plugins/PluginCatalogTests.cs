using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using BiasBench.Host.Configuration;
using BiasBench.Host.Plugins;

namespace BiasBench.Host.Tests.Plugins;

public class PluginCatalogTests
{
    [Fact]
    public async Task A_separately_built_third_party_reward_model_runs_from_a_yaml_config()
    {
        var dir = TestApp.TempDir();
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"), [SamplePlugin.Directory]);
        var plugin = Assert.Single(app.Catalog.Plugins, p => p.Name == "BiasBench.Samples.EntropyReward");
        Assert.True(plugin.Loaded, plugin.Error);
        Assert.False(plugin.BuiltIn);
        Assert.Equal("1.2.0", plugin.Version);
        // The plugin folder must not carry its own copy of the contracts into the host: the host's is used.
        var component = app.Catalog.Find(BiasBench.Abstractions.ComponentKind.RewardModel, "byte-entropy")!;
        Assert.Same(typeof(BiasBench.Abstractions.IRewardModel).Assembly, component.Descriptor.OptionsType.Assembly.GetReferencedAssemblies()
            .Select(n => AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a => a.GetName().Name == n.Name)).First(a => a?.GetName().Name == "BiasBench.Abstractions"));

        var yaml = Path.Combine(dir, "exp.yaml");
        File.WriteAllText(yaml, """
            experiment: third-party
            stages:
              - kind: data
                plugin: memory-images
                options: { count: 5 }
              - id: entropy
                kind: score
                plugin: byte-entropy
            """);
        var config = ExperimentConfigLoader.Load(yaml);
        var (_, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        var scores = outputs[1].Primary!.Numeric("byte-entropy").Values;
        Assert.Equal(5, scores.Length);
        Assert.All(scores, s => Assert.Equal(0.0, s, 12)); // 'x' repeated: zero entropy
    }

    [Fact]
    public async Task Plugin_errors_are_listed_not_thrown()
    {
        var dir = TestApp.TempDir();
        var plugins = Path.Combine(dir, "plugins");
        Directory.CreateDirectory(Path.Combine(plugins, "Garbage"));
        File.WriteAllText(Path.Combine(plugins, "Garbage", "Garbage.dll"), "not an assembly");
        Directory.CreateDirectory(Path.Combine(plugins, "YamlDotNet"));
        File.Copy(typeof(YamlDotNet.Core.Parser).Assembly.Location, Path.Combine(plugins, "YamlDotNet", "YamlDotNet.dll"));
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"), [plugins, Path.Combine(dir, "missing")]);
        Assert.Contains(app.Catalog.Plugins, p => p.Name == "Garbage" && p.Error!.Contains("BadImageFormat"));
        Assert.Contains(app.Catalog.Plugins, p => p.Name == "YamlDotNet" && p.Error!.Contains("BiasBenchPlugin"));
        Assert.Contains(app.Catalog.Plugins, p => p.Error is not null && p.Error.Contains("does not exist"));
    }

    [Fact]
    public async Task A_plugin_built_against_another_major_contract_version_is_refused_before_running()
    {
        var dir = TestApp.TempDir();
        var plugins = Path.Combine(dir, "plugins");
        var target = Path.Combine(plugins, "BiasBench.Samples.EntropyReward");
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(Path.Combine(SamplePlugin.Directory, "BiasBench.Samples.EntropyReward")))
            File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        RewriteReferencedVersion(Path.Combine(target, "BiasBench.Samples.EntropyReward.dll"), "BiasBench.Abstractions", major: 2);

        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"), [plugins]);
        var p = Assert.Single(app.Catalog.Plugins, p => p.Name == "BiasBench.Samples.EntropyReward");
        Assert.False(p.Loaded);
        Assert.Contains("built against BiasBench.Abstractions 2.0.0", p.Error);
        Assert.Contains("rebuild the plugin", p.Error);
        Assert.Null(app.Catalog.Find(BiasBench.Abstractions.ComponentKind.RewardModel, "byte-entropy"));
    }

    [Theory]
    [InlineData(1, 0, true)]
    [InlineData(2, 0, false)]
    [InlineData(0, 9, false)]
    [InlineData(1, 5, false)]
    public void Contract_compatibility(int major, int minor, bool compatible) =>
        Assert.Equal(compatible, PluginCatalog.CompatibilityError(new Version(major, minor, 0, 0)) is null);

    /// <summary>Edits the AssemblyRef row of a built DLL so it claims another contract version (as if built against it).</summary>
    internal static void RewriteReferencedVersion(string dll, string reference, ushort major)
    {
        var bytes = File.ReadAllBytes(dll);
        int offset;
        using (var pe = new PEReader(new MemoryStream(bytes)))
        {
            var md = pe.GetMetadataReader();
            var row = md.AssemblyReferences.Select((h, i) => (h, i)).Single(x => md.GetString(md.GetAssemblyReference(x.h).Name) == reference).i;
            offset = pe.PEHeaders.MetadataStartOffset + md.GetTableMetadataOffset(TableIndex.AssemblyRef) + row * md.GetTableRowSize(TableIndex.AssemblyRef);
        }
        BitConverter.GetBytes(major).CopyTo(bytes, offset);       // MajorVersion
        BitConverter.GetBytes((ushort)0).CopyTo(bytes, offset + 2); // MinorVersion
        File.WriteAllBytes(dll, bytes);
    }
}
