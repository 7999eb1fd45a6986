using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using BiasBench.Host.Plugins;

namespace BiasBench.Host.Tests.Plugins;

/// <summary>
/// 'biasbench plugins install/remove' on the separately built sample plugin (samples/ThirdPartyPlugin), as a folder and
/// as packages laid out like the template's (plugin/) and like a plain class-library package (lib/net10.0/).
/// </summary>
public class PluginInstallerTests
{
    private const string Sample = "BiasBench.Samples.EntropyReward";
    /// <summary>'dotnet build -o' output of the sample: the plugin's files, plus the contracts it was built with.</summary>
    private static string SampleBuildOutput => Path.Combine(SamplePlugin.Directory, Sample);
    private static string ContractVersion => PluginCatalog.HostContractVersion.ToString(3);

    [Fact]
    public async Task A_built_plugin_folder_is_installed_with_where_it_came_from_and_the_host_loads_it_from_there()
    {
        var dir = TestApp.TempDir();
        var plugins = Path.Combine(dir, "plugins");
        var installer = new PluginInstaller(plugins);
        var sampleFolder = CopySample(Path.Combine(dir, "build", Sample));

        var installed = installer.Install(sampleFolder);

        var record = installed.Record;
        Assert.Equal((Sample, "1.2.0", "folder", sampleFolder), (record.Name, record.Version, record.SourceKind, record.Source));
        Assert.Equal(ContractVersion, record.ContractsVersion);
        Assert.Equal(Sha256(Path.Combine(sampleFolder, Sample + ".dll")), record.Sha256);
        Assert.Equal("byte-entropy", Assert.Single(installed.Components).Name);
        Assert.Equal(Path.Combine(plugins, Sample), installed.Directory);
        Assert.True(File.Exists(Path.Combine(plugins, Sample, Sample + ".dll")));
        Assert.Equal(record, PluginInstaller.ReadRecord(installed.Directory));
        Assert.Equal(Sample, Assert.Single(installer.Installed()).Name);
        Assert.Equal(new[] { Sample }, Directory.GetDirectories(plugins).Select(d => Path.GetFileName(d)).ToArray()); // no staging folder left behind

        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"), [plugins]);
        var plugin = Assert.Single(app.Catalog.Plugins, p => p.Name == Sample);
        Assert.True(plugin.Loaded, plugin.Error);
        var source = PluginInstaller.DescribeSource(plugin, dir);
        Assert.StartsWith($"installed: {Path.Combine("plugins", Sample)}\nfrom {sampleFolder}, ", source);
    }

    [Fact]
    public void A_package_in_the_template_layout_installs_and_remove_undoes_it()
    {
        var dir = TestApp.TempDir();
        var package = MakePackage(Path.Combine(dir, "Lab.Entropy.2.0.1.nupkg"), "Lab.Entropy", "2.0.1", "plugin/", SampleFiles());
        var installer = new PluginInstaller(Path.Combine(dir, "plugins"));

        var record = installer.Install(package).Record;
        Assert.Equal(("package", "Lab.Entropy", "2.0.1", Sha256(package)), (record.SourceKind, record.PackageId, record.PackageVersion, record.Sha256));
        Assert.Equal(Sample, record.Name);
        Assert.True(File.Exists(Path.Combine(dir, "plugins", Sample, Sample + ".deps.json")));

        Assert.Equal(record, installer.Remove(Sample));
        Assert.False(Directory.Exists(Path.Combine(dir, "plugins", Sample)));
        var again = Assert.Throws<PluginInstallException>(() => installer.Remove(Sample));
        Assert.Equal($"No plugin named {Sample} is installed in {Path.Combine(dir, "plugins")}.", again.Message);
    }

    [Fact]
    public void A_plain_class_library_package_installs_from_lib()
    {
        var dir = TestApp.TempDir();
        var package = MakePackage(Path.Combine(dir, "p.nupkg"), Sample, "1.2.0", "lib/net10.0/",
            SampleFiles().Where(f => f.EndsWith(".dll", StringComparison.Ordinal)));
        var installed = new PluginInstaller(Path.Combine(dir, "plugins")).Install(package);
        Assert.Equal("byte-entropy", Assert.Single(installed.Components).Name);
    }

    [Fact]
    public void A_second_install_of_the_same_name_is_refused_unless_forced()
    {
        var dir = TestApp.TempDir();
        var installer = new PluginInstaller(Path.Combine(dir, "plugins"));
        var sampleFolder = CopySample(Path.Combine(dir, "build", Sample));
        installer.Install(sampleFolder);

        var clash = Assert.Throws<PluginInstallException>(() => installer.Install(sampleFolder));
        Assert.Equal($"{Sample} was not installed: a plugin of that name is already in {Path.Combine(dir, "plugins", Sample)} (1.2.0, installed from " +
                     $"{sampleFolder}). Remove it first (biasbench plugins remove {Sample}) or install with --force to replace it.", clash.Message);

        var package = MakePackage(Path.Combine(dir, "p.nupkg"), "Lab.Entropy", "3.0.0", "plugin/", SampleFiles());
        Assert.Equal("package", installer.Install(package, replace: true).Record.SourceKind);
        Assert.Equal("Lab.Entropy", Assert.Single(installer.Installed()).PackageId);
    }

    [Fact]
    public void A_plugin_whose_components_clash_with_an_installed_one_is_refused_and_nothing_changes()
    {
        var dir = TestApp.TempDir();
        var plugins = Path.Combine(dir, "plugins");
        // The same component names under another plugin (folder and file) name.
        var other = Path.Combine(plugins, "Lab.Other");
        Directory.CreateDirectory(other);
        File.Copy(Path.Combine(SampleBuildOutput, Sample + ".dll"), Path.Combine(other, "Lab.Other.dll"));

        var error = Assert.Throws<PluginInstallException>(() => new PluginInstaller(plugins).Install(CopySample(Path.Combine(dir, "build"))));
        Assert.StartsWith($"{Sample} 1.2.0 was not installed: ", error.Message);
        Assert.Contains("'byte-entropy' is already registered by plugin", error.Message);
        Assert.Equal(new[] { "Lab.Other" }, Directory.GetDirectories(plugins).Select(d => Path.GetFileName(d)).ToArray());
    }

    [Fact]
    public void A_plugin_named_like_a_built_in_plugin_is_refused()
    {
        var builtIn = PluginCatalog.BuiltInDirectories().SelectMany(Directory.GetDirectories).First(d => Path.GetFileName(d) == "BiasBench.Plugins.Datasets");
        var error = Assert.Throws<PluginInstallException>(() => new PluginInstaller(Path.Combine(TestApp.TempDir(), "plugins")).Install(builtIn));
        Assert.Equal("BiasBench.Plugins.Datasets was not installed: a built-in plugin has that name. Rename the plugin's assembly.", error.Message);
    }

    [Fact]
    public void A_plugin_built_against_another_major_contract_version_is_refused()
    {
        var dir = TestApp.TempDir();
        var copy = CopySample(Path.Combine(dir, "v2"));
        PluginCatalogTests.RewriteReferencedVersion(Path.Combine(copy, Sample + ".dll"), "BiasBench.Abstractions", major: 2);
        var host = PluginCatalog.HostContractVersion;

        var error = Assert.Throws<PluginInstallException>(() => new PluginInstaller(Path.Combine(dir, "plugins")).Install(copy));
        Assert.Equal($"{Sample} 1.2.0 was not installed: built against BiasBench.Abstractions 2.0.0, but this host provides {host.ToString(3)}; " +
                     $"rebuild the plugin against {host.Major}.x (<= {host.ToString(2)}).", error.Message);
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir, "plugins")));
    }

    [Fact]
    public void A_plugin_that_ships_its_own_copies_of_host_owned_assemblies_is_refused()
    {
        var dir = TestApp.TempDir();
        var copy = CopySample(Path.Combine(dir, "fat"));
        foreach (var extra in new[] { "TorchSharp.dll", "Microsoft.Extensions.Logging.Abstractions.dll", "runtimes/linux-x64/native/libtorch_cpu.so", "Newtonsoft.Json.dll" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(copy, extra))!);
            File.WriteAllBytes(Path.Combine(copy, extra), [0]);
        }

        var installer = new PluginInstaller(Path.Combine(dir, "plugins"));
        var error = Assert.Throws<PluginInstallException>(() => installer.Install(copy));
        Assert.StartsWith($"{Sample} 1.2.0 was not installed: it ships its own copies of assemblies the host owns and shares with every plugin " +
                          "(Microsoft.Extensions.Logging.Abstractions.dll, TorchSharp.dll, runtimes/linux-x64/native/libtorch_cpu.so). ", error.Message);
        Assert.DoesNotContain("Newtonsoft", error.Message); // a private dependency of the plugin's own is fine
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir, "plugins")));

        // 'dotnet build -o DIR' of a plugin that references the contracts' project also builds them into DIR.
        var fromBuild = Assert.Throws<PluginInstallException>(() => installer.Install(SampleBuildOutput));
        Assert.StartsWith($"{Sample} 1.2.0 was not installed: it ships its own copies of assemblies the host owns and shares with every plugin (", fromBuild.Message);
        Assert.Contains("BiasBench.Abstractions.dll", fromBuild.Message);
    }

    [Fact]
    public void Bad_sources_and_packages_get_one_clear_message_each()
    {
        var dir = TestApp.TempDir();
        var installer = new PluginInstaller(Path.Combine(dir, "plugins"));
        string Refusal(string source) => Assert.Throws<PluginInstallException>(() => installer.Install(source)).Message;

        Assert.Equal($"'{Path.Combine(dir, "missing.nupkg")}' does not exist: give a plugin package (.nupkg) or the folder with the built plugin.",
            Refusal(Path.Combine(dir, "missing.nupkg")));

        var text = Path.Combine(dir, "text.nupkg");
        File.WriteAllText(text, "not a zip");
        Assert.StartsWith($"'{text}' is not a NuGet package (.nupkg, a zip file): ", Refusal(text));

        var noNuspec = Path.Combine(dir, "no-nuspec.nupkg");
        using (var zip = ZipFile.Open(noNuspec, ZipArchiveMode.Create)) zip.CreateEntry("plugin/readme.txt");
        Assert.Equal($"'{noNuspec}' is not a NuGet package: it has no .nuspec.", Refusal(noNuspec));

        var empty = MakePackage(Path.Combine(dir, "empty.nupkg"), "Empty", "1.0.0", "content/", SampleFiles());
        Assert.Equal($"'{empty}' holds no plugin: it has neither a plugin/ folder nor assemblies under lib/<framework>/.", Refusal(empty));

        var escaping = MakePackage(Path.Combine(dir, "escaping.nupkg"), "Evil", "1.0.0", "plugin/", SampleFiles());
        using (var zip = ZipFile.Open(escaping, ZipArchiveMode.Update)) zip.CreateEntry("plugin/../../outside.dll");
        Assert.Equal($"'{escaping}' was refused: its entry 'plugin/../../outside.dll' points outside the package.", Refusal(escaping));
        Assert.False(File.Exists(Path.Combine(dir, "outside.dll")));

        var noPlugin = Path.Combine(dir, "no-plugin");
        Directory.CreateDirectory(noPlugin);
        File.Copy(typeof(YamlDotNet.Core.Parser).Assembly.Location, Path.Combine(noPlugin, "YamlDotNet.dll"));
        Assert.Equal($"'{noPlugin}' holds no plugin: no .dll has an [assembly: BiasBenchPlugin(typeof(...))] entry point.", Refusal(noPlugin));

        Assert.Empty(Directory.GetDirectories(Path.Combine(dir, "plugins"))); // every refusal cleaned up after itself
    }

    [Fact]
    public void Remove_only_touches_folders_that_install_made()
    {
        var dir = TestApp.TempDir();
        var plugins = Path.Combine(dir, "plugins");
        Directory.CreateDirectory(Path.Combine(plugins, "Hand.Copied"));
        var installer = new PluginInstaller(plugins);

        Assert.Equal($"{Path.Combine(plugins, "Hand.Copied")} was not installed by 'biasbench plugins install' (it has no biasbench-plugin.json); delete the folder yourself if you mean to.",
            Assert.Throws<PluginInstallException>(() => installer.Remove("Hand.Copied")).Message);
        Assert.StartsWith("'../plugins' is not a plugin name", Assert.Throws<PluginInstallException>(() => installer.Remove("../plugins")).Message);
        Assert.True(Directory.Exists(Path.Combine(plugins, "Hand.Copied")));
    }

    [Fact]
    public void The_contract_version_the_host_checks_is_the_package_version_in_Contracts_props()
    {
        var props = File.ReadAllText(Path.Combine(SamplePlugin.RepoRoot, "src", "Contracts.props"));
        var version = Version.Parse(Regex.Match(props, "<BiasBenchContractVersion>(.*?)</BiasBenchContractVersion>").Groups[1].Value);
        Assert.Equal(new Version(version.Major, version.Minor, version.Build, 0), PluginCatalog.HostContractVersion);
        Assert.Equal(PluginCatalog.HostContractVersion, typeof(BiasBench.Abstractions.Torch.IDifferentiableRewardModel).Assembly.GetName().Version);
    }

    /// <summary>
    /// The installer's list of host-owned files must cover every file the host ships from the packages that
    /// plugins/Directory.Build.targets keeps out of plugin folders (and Microsoft.Extensions.*, and BiasBench's own libraries).
    /// </summary>
    [Fact]
    public void Every_file_the_host_ships_from_a_host_owned_package_counts_as_host_owned()
    {
        var targets = File.ReadAllText(Path.Combine(SamplePlugin.RepoRoot, "plugins", "Directory.Build.targets"));
        var owned = Regex.Match(targets, "<HostOwnedPackages>(.*?)</HostOwnedPackages>").Groups[1].Value.Split(';', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        Assert.Contains("TorchSharp", owned);
        // One list, kept in two places: the build drops these from plugin folders, the installer refuses plugins that carry them.
        Assert.Equal(owned.Order(StringComparer.Ordinal), PluginInstaller.HostOwnedPackages.Order(StringComparer.Ordinal));

        using var deps = JsonDocument.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(SamplePlugin.HostDll)!, "biasbench.deps.json")));
        var libraries = deps.RootElement.GetProperty("libraries");
        var checkedFiles = 0;
        foreach (var target in deps.RootElement.GetProperty("targets").EnumerateObject())
        foreach (var library in target.Value.EnumerateObject())
        {
            var id = library.Name.Split('/')[0];
            var isProject = libraries.GetProperty(library.Name).GetProperty("type").GetString() == "project";
            if (!owned.Contains(id) && !id.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) && !(isProject && id != "biasbench")) continue;
            foreach (var kind in new[] { "runtime", "native", "runtimeTargets", "resources" })
                if (library.Value.TryGetProperty(kind, out var files))
                    foreach (var file in files.EnumerateObject())
                    {
                        Assert.True(PluginInstaller.IsHostOwned(file.Name), $"{file.Name} (package {library.Name}) is not recognised as host-owned");
                        checkedFiles++;
                    }
        }
        Assert.True(checkedFiles > 50, $"only {checkedFiles} files checked: is biasbench.deps.json complete?");
        Assert.False(PluginInstaller.IsHostOwned("Newtonsoft.Json.dll"));
        Assert.False(PluginInstaller.IsHostOwned("Lab.MyReward.dll"));
        Assert.False(PluginInstaller.IsHostOwned("runtimes/linux-x64/native/libmylab.so"));
    }

    /// <summary>The sample plugin's own files (not the contracts built beside them).</summary>
    private static IEnumerable<string> SampleFiles() =>
        Directory.GetFiles(SampleBuildOutput).Where(f => Path.GetFileName(f).StartsWith(Sample + ".", StringComparison.Ordinal));

    private static string CopySample(string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in SampleFiles()) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        return to;
    }

    /// <summary>A .nupkg (a zip with a .nuspec) holding <paramref name="files"/> under <paramref name="folder"/>.</summary>
    private static string MakePackage(string path, string id, string version, string folder, IEnumerable<string> files)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var writer = new StreamWriter(zip.CreateEntry(id + ".nuspec").Open()))
            writer.Write($"""<?xml version="1.0" encoding="utf-8"?><package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata><id>{id}</id><version>{version}</version><authors>lab</authors><description>test</description></metadata></package>""");
        foreach (var file in files) zip.CreateEntryFromFile(file, folder + Path.GetFileName(file));
        return path;
    }

    private static string Sha256(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
}
