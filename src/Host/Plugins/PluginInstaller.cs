using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Xml.Linq;
using BiasBench.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Host.Plugins;

/// <summary>An install refused or failed for a reason the user can act on (printed without a stack trace).</summary>
public sealed class PluginInstallException(string message) : InvalidOperationException(message);

/// <summary>Where an installed plugin came from: written next to it as <see cref="PluginInstaller.RecordFileName"/>.</summary>
public sealed record PluginInstallRecord(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("source_kind")] string SourceKind,
    [property: JsonPropertyName("package_id")] string? PackageId,
    [property: JsonPropertyName("package_version")] string? PackageVersion,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("contracts_version")] string? ContractsVersion,
    [property: JsonPropertyName("installed_utc")] DateTime InstalledUtc);

/// <summary>The result of an install: the record and the components the plugin registered.</summary>
public sealed record InstalledPlugin(PluginInstallRecord Record, string Directory, IReadOnlyList<ComponentDescriptor> Components);

/// <summary>
/// Installs plugins into a user plugin folder (one sub-folder per plugin, named like its assembly, where the host
/// finds it) from a package (.nupkg) or a built plugin folder, and removes them again. Before anything lands in the
/// folder the plugin is checked: exactly one assembly with a <c>[assembly: BiasBenchPlugin]</c> entry point, a
/// compatible contract version, no copies of assemblies the host owns, no clash with a plugin or component that is
/// already there (it is loaded once beside the built-in and installed plugins to see).
/// </summary>
public sealed class PluginInstaller(string pluginsDirectory)
{
    public const string RecordFileName = "biasbench-plugin.json";
    public const string HomeVariable = "BIASBENCH_HOME";

    /// <summary>Folder inside a plugin package that holds the plugin's build output (the template packs it there).</summary>
    public const string PackagePluginFolder = "plugin";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string PluginsDirectory { get; } = Path.GetFullPath(pluginsDirectory);

    /// <summary>The user's BiasBench folder: BIASBENCH_HOME, else ~/.biasbench.</summary>
    public static string HomeDirectory =>
        Environment.GetEnvironmentVariable(HomeVariable) is { Length: > 0 } home
            ? Path.GetFullPath(home)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".biasbench");

    /// <summary>Where <c>biasbench plugins install</c> puts plugins by default, and which the host always loads.</summary>
    public static string DefaultDirectory => Path.Combine(HomeDirectory, "plugins");

    /// <summary>The user plugin folder when it exists (the host loads it by default; a missing one is not an error).</summary>
    public static IEnumerable<string> DefaultDirectoryIfPresent() =>
        Directory.Exists(DefaultDirectory) ? [DefaultDirectory] : [];

    public InstalledPlugin Install(string source, bool replace = false)
    {
        var fullSource = Path.GetFullPath(source);
        Directory.CreateDirectory(PluginsDirectory);
        var staging = Path.Combine(PluginsDirectory, ".staging-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(staging);
        try
        {
            string root; string kind; string? packageId = null, packageVersion = null; string sha256;
            if (File.Exists(fullSource))
            {
                (root, packageId, packageVersion) = ExtractPackage(fullSource, Path.Combine(staging, "package"));
                kind = "package";
                sha256 = Sha256(fullSource);
            }
            else if (Directory.Exists(fullSource))
            {
                root = fullSource;
                kind = "folder";
                sha256 = "";
            }
            else throw new PluginInstallException($"'{source}' does not exist: give a plugin package (.nupkg) or the folder with the built plugin.");

            var assembly = FindPluginAssembly(root, source);
            var name = Path.GetFileNameWithoutExtension(assembly);
            if (kind == "folder") sha256 = Sha256(assembly);
            var (_, referenced, version) = PluginCatalog.InspectMetadata(assembly);
            if (PluginCatalog.CompatibilityError(referenced) is { } incompatible)
                throw new PluginInstallException($"{name} {version} was not installed: {incompatible}.");

            var hostOwned = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
                .Where(f => !string.Equals(Path.GetFileNameWithoutExtension(f), name, StringComparison.OrdinalIgnoreCase) && IsHostOwned(f))
                .Order(StringComparer.Ordinal).ToList();
            if (hostOwned.Count > 0)
                throw new PluginInstallException(
                    $"{name} {version} was not installed: it ships its own copies of assemblies the host owns and shares with every plugin " +
                    $"({string.Join(", ", hostOwned.Take(8))}{(hostOwned.Count > 8 ? $" and {hostOwned.Count - 8} more" : "")}). " +
                    "Reference BiasBench.Abstractions (and TorchSharp, SkiaSharp, ONNX Runtime, Microsoft.Extensions.*) with ExcludeAssets=\"runtime;native\" " +
                    "or Private=\"false\", rebuild and install again.");

            if (PluginCatalog.BuiltInDirectories().Any(d => Directory.Exists(Path.Combine(d, name))))
                throw new PluginInstallException($"{name} was not installed: a built-in plugin has that name. Rename the plugin's assembly.");
            var target = Path.Combine(PluginsDirectory, name);
            string? previous = null;
            if (Directory.Exists(target))
            {
                var existing = ReadRecord(target);
                if (!replace)
                    throw new PluginInstallException(
                        $"{name} was not installed: a plugin of that name is already in {target}" +
                        (existing is null ? "" : $" ({existing.Version}, installed from {existing.Source})") +
                        $". Remove it first (biasbench plugins remove {name}) or install with --force to replace it.");
                // Moved aside (not deleted) so that a failed install leaves the old one in place.
                previous = Path.Combine(staging, "previous");
                Directory.Move(target, previous);
            }

            try
            {
                var staged = Path.Combine(staging, "stage", name);
                CopyDirectory(root, staged);
                var components = TrialLoad(Path.Combine(staging, "stage"), name, version);
                var record = new PluginInstallRecord(name, version, fullSource, kind, packageId, packageVersion, sha256,
                    referenced?.ToString(3), DateTime.UtcNow);
                File.WriteAllText(Path.Combine(staged, RecordFileName), JsonSerializer.Serialize(record, Json));
                Directory.Move(staged, target);
                return new InstalledPlugin(record, target, components);
            }
            catch
            {
                if (previous is not null && !Directory.Exists(target)) Directory.Move(previous, target);
                throw;
            }
        }
        finally
        {
            TryDelete(staging);
        }
    }

    /// <summary>Removes a plugin installed with <see cref="Install"/>; returns its record.</summary>
    public PluginInstallRecord Remove(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name != Path.GetFileName(name) || name is "." or ".." || name.StartsWith('.'))
            throw new PluginInstallException($"'{name}' is not a plugin name (the name of the plugin's assembly, as 'biasbench plugins' lists it).");
        var target = Path.Combine(PluginsDirectory, name);
        if (!Directory.Exists(target))
        {
            var installed = Installed().Select(r => r.Name).ToList();
            throw new PluginInstallException($"No plugin named {name} is installed in {PluginsDirectory}" +
                (installed.Count == 0 ? "." : $"; installed: {string.Join(", ", installed)}."));
        }
        var record = ReadRecord(target)
            ?? throw new PluginInstallException($"{target} was not installed by 'biasbench plugins install' (it has no {RecordFileName}); delete the folder yourself if you mean to.");
        Directory.Delete(target, recursive: true);
        return record;
    }

    /// <summary>Records of the plugins installed in this folder.</summary>
    public IReadOnlyList<PluginInstallRecord> Installed() =>
        Directory.Exists(PluginsDirectory)
            ? Directory.EnumerateDirectories(PluginsDirectory).Order(StringComparer.Ordinal).Select(ReadRecord).OfType<PluginInstallRecord>().ToList()
            : [];

    /// <summary>The install record in a plugin's folder, or null when it was not installed by <see cref="Install"/>.</summary>
    public static PluginInstallRecord? ReadRecord(string pluginDirectory)
    {
        var file = Path.Combine(pluginDirectory, RecordFileName);
        if (!File.Exists(file)) return null;
        try { return JsonSerializer.Deserialize<PluginInstallRecord>(File.ReadAllText(file)); }
        catch (JsonException) { return null; }
    }

    /// <summary>How <c>biasbench plugins</c> describes where a loaded plugin came from.</summary>
    public static string DescribeSource(PluginInfo plugin, string relativeTo)
    {
        var folder = Path.GetDirectoryName(plugin.Path) ?? plugin.Path;
        var shown = Path.GetRelativePath(relativeTo, folder);
        if (shown.StartsWith("..", StringComparison.Ordinal)) shown = folder; // outside the working directory: the full path reads better
        if (plugin.BuiltIn) return $"built-in: {shown}";
        if (File.Exists(plugin.Path) && ReadRecord(folder) is { } r)
        {
            var package = r.PackageId is null || Path.GetFileName(r.Source).Equals($"{r.PackageId}.{r.PackageVersion}.nupkg", StringComparison.OrdinalIgnoreCase)
                ? "" : $" (package {r.PackageId} {r.PackageVersion})";
            return $"installed: {shown}\nfrom {r.Source}{package}, {r.InstalledUtc:yyyy-MM-dd HH:mm} UTC";
        }
        return $"external: {shown}";
    }

    /// <summary>
    /// NuGet packages the host ships and shares with every plugin: the HostOwnedPackages of plugins/Directory.Build.targets,
    /// which keeps them out of the built-in plugins' folders (a test keeps the two lists equal). Microsoft.Extensions.*
    /// and BiasBench's own libraries are host-owned too.
    /// </summary>
    public static readonly IReadOnlySet<string> HostOwnedPackages = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "TorchSharp", "libtorch-cpu-linux-x64", "SkiaSharp", "SkiaSharp.NativeAssets.Linux.NoDependencies", "SkiaSharp.NativeAssets.Win32",
        "SkiaSharp.NativeAssets.macOS", "SkiaSharp.NativeAssets.Linux", "HarfBuzzSharp.NativeAssets.Win32", "HarfBuzzSharp.NativeAssets.macOS",
        "SkiaSharp.HarfBuzz", "HarfBuzzSharp", "HarfBuzzSharp.NativeAssets.Linux", "ScottPlot", "Microsoft.ML.OnnxRuntime", "Microsoft.ML.OnnxRuntime.Gpu.Linux",
        "Microsoft.ML.OnnxRuntime.Managed", "Microsoft.ML.Tokenizers", "Google.Protobuf", "SharpZipLib", "MathNet.Numerics", "Parquet.Net",
        "K4os.Compression.LZ4", "Snappier", "ZstdSharp.Port", "Microsoft.IO.RecyclableMemoryStream", "CommunityToolkit.HighPerformance",
        "System.Numerics.Tensors", "OpenAI", "System.ClientModel", "System.Memory.Data", "Polly.Core", "Polly.Extensions",
        "Polly.RateLimiting", "System.Threading.RateLimiting",
    };

    // The files of those packages, as the running host's .deps.json names them (so the check follows the host's
    // actual versions and asset names), plus fixed names for the contracts and the heavy native runtimes in case
    // no .deps.json can be read (single-file publish).
    private static readonly Lazy<HashSet<string>> HostOwnedFiles = new(ReadHostOwnedFiles);

    private static readonly string[] HostOwnedFallbackPrefixes =
    [
        "BiasBench.Abstractions.", "BiasBench.Abstractions.Torch.", "Microsoft.Extensions.", "TorchSharp.", "SkiaSharp.", "Microsoft.ML.OnnxRuntime.",
        "libLibTorchSharp", "LibTorchSharp", "libtorch", "libc10", "libgomp", "libSkiaSharp", "libHarfBuzzSharp", "libonnxruntime", "onnxruntime",
    ];

    /// <summary>Whether a file of a plugin folder (relative path) is a copy of something the host owns.</summary>
    public static bool IsHostOwned(string relativePath)
    {
        var file = Path.GetFileName(relativePath.Replace('\\', '/'));
        var owned = HostOwnedFiles.Value;
        if (owned.Contains(file)) return true;
        // Symbols and XML docs of a host-owned assembly come with it.
        var extension = Path.GetExtension(file);
        if ((extension.Equals(".pdb", StringComparison.OrdinalIgnoreCase) || extension.Equals(".xml", StringComparison.OrdinalIgnoreCase))
            && owned.Contains(Path.ChangeExtension(file, ".dll")))
            return true;
        return HostOwnedFallbackPrefixes.Any(p => file.StartsWith(p, StringComparison.OrdinalIgnoreCase));
    }

    private static HashSet<string> ReadHostOwnedFiles()
    {
        var files = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (AppContext.GetData("APP_CONTEXT_DEPS_FILES") is not string depsFiles) return files;
        foreach (var depsFile in depsFiles.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                using var deps = JsonDocument.Parse(File.ReadAllBytes(depsFile));
                var libraries = deps.RootElement.GetProperty("libraries");
                foreach (var target in deps.RootElement.GetProperty("targets").EnumerateObject())
                foreach (var library in target.Value.EnumerateObject())
                {
                    var id = library.Name.Split('/')[0];
                    var isProject = libraries.TryGetProperty(library.Name, out var info) && info.TryGetProperty("type", out var type) && type.GetString() == "project";
                    if (!HostOwnedPackages.Contains(id) && !id.StartsWith("Microsoft.Extensions.", StringComparison.OrdinalIgnoreCase)
                        && !(isProject && id.StartsWith("BiasBench.", StringComparison.Ordinal)))
                        continue;
                    foreach (var kind in (ReadOnlySpan<string>)["runtime", "native", "runtimeTargets", "resources"])
                        if (library.Value.TryGetProperty(kind, out var assets))
                            foreach (var asset in assets.EnumerateObject())
                                files.Add(Path.GetFileName(asset.Name));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException) { }
        }
        return files;
    }

    /// <summary>The one assembly of the folder with a [assembly: BiasBenchPlugin] entry point.</summary>
    private static string FindPluginAssembly(string root, string source)
    {
        var plugins = new List<string>();
        foreach (var dll in Directory.EnumerateFiles(root, "*.dll").Order(StringComparer.Ordinal))
        {
            try { if (PluginCatalog.InspectMetadata(dll).HasAttribute) plugins.Add(dll); }
            catch (BadImageFormatException) { } // native library or not .NET: not the plugin
        }
        return plugins.Count switch
        {
            1 => plugins[0],
            0 => throw new PluginInstallException(
                $"'{source}' holds no plugin: no .dll{(File.Exists(source) ? $" in the package's {PackagePluginFolder}/ or lib/<framework>/ folder" : "")} " +
                "has an [assembly: BiasBenchPlugin(typeof(...))] entry point."),
            _ => throw new PluginInstallException(
                $"'{source}' holds {plugins.Count} plugin assemblies ({string.Join(", ", plugins.Select(Path.GetFileName))}); install one plugin at a time."),
        };
    }

    /// <summary>
    /// Extracts the plugin files of a .nupkg: the package's plugin/ folder (the template packs the build output there),
    /// else lib/&lt;framework&gt;/ of a plain class-library package. Returns the folder with the plugin files.
    /// </summary>
    private static (string Root, string? Id, string? Version) ExtractPackage(string package, string destination)
    {
        ZipArchive zip;
        try { zip = ZipFile.OpenRead(package); }
        catch (InvalidDataException e) { throw new PluginInstallException($"'{package}' is not a NuGet package (.nupkg, a zip file): {e.Message}"); }
        using (zip)
        {
            var entries = zip.Entries.Where(e => e.Name.Length > 0)
                .Select(e => (Entry: e, Path: Uri.UnescapeDataString(e.FullName).Replace('\\', '/'))).ToList();
            string? id = null, version = null;
            if (entries.FirstOrDefault(e => !e.Path.Contains('/') && e.Path.EndsWith(".nuspec", StringComparison.OrdinalIgnoreCase)).Entry is { } nuspec)
            {
                try
                {
                    using var s = nuspec.Open();
                    var metadata = XDocument.Load(s).Root?.Elements().FirstOrDefault(e => e.Name.LocalName == "metadata");
                    id = metadata?.Elements().FirstOrDefault(e => e.Name.LocalName == "id")?.Value;
                    version = metadata?.Elements().FirstOrDefault(e => e.Name.LocalName == "version")?.Value;
                }
                catch (System.Xml.XmlException e) { throw new PluginInstallException($"'{package}' has an unreadable .nuspec: {e.Message}"); }
            }
            else throw new PluginInstallException($"'{package}' is not a NuGet package: it has no .nuspec.");

            var prefix = PackagePluginFolder + "/";
            if (!entries.Any(e => e.Path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
            {
                var frameworks = entries.Where(e => e.Path.StartsWith("lib/", StringComparison.OrdinalIgnoreCase) && e.Path.Count(c => c == '/') == 2
                                                    && e.Path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                    .Select(e => e.Path.Split('/')[1]).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
                var current = $"net{Environment.Version.Major}.0";
                var chosen = frameworks.Count == 1 ? frameworks[0] : frameworks.FirstOrDefault(f => f.Equals(current, StringComparison.OrdinalIgnoreCase));
                if (chosen is null)
                    throw new PluginInstallException(frameworks.Count == 0
                        ? $"'{package}' holds no plugin: it has neither a {PackagePluginFolder}/ folder nor assemblies under lib/<framework>/."
                        : $"'{package}' has assemblies for {string.Join(", ", frameworks)} but none for {current}.");
                prefix = $"lib/{chosen}/";
            }

            var root = Path.GetFullPath(destination);
            long total = 0;
            foreach (var (entry, path) in entries.Where(e => e.Path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
            {
                var relative = path[prefix.Length..];
                var target = Path.GetFullPath(Path.Combine(root, relative));
                if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    throw new PluginInstallException($"'{package}' was refused: its entry '{path}' points outside the package.");
                total += entry.Length;
                if (total > MaxExtractedBytes)
                    throw new PluginInstallException($"'{package}' was refused: its plugin files unpack to more than {MaxExtractedBytes >> 30} GiB.");
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                try { entry.ExtractToFile(target, overwrite: false); }
                catch (InvalidDataException e) { throw new PluginInstallException($"'{package}' is damaged: entry '{path}': {e.Message}"); }
            }
            Directory.CreateDirectory(root);
            return (root, id, version);
        }
    }

    private const long MaxExtractedBytes = 4L << 30;

    /// <summary>
    /// Loads the staged plugin beside the built-in plugins and those already installed, as the host will: a plugin that
    /// fails to load, or whose component names clash with another's, is refused here rather than at the next run.
    /// </summary>
    private IReadOnlyList<ComponentDescriptor> TrialLoad(string stageRoot, string name, string version)
    {
        var catalog = new PluginCatalog();
        var services = new ServiceCollection();
        catalog.LoadFrom(PluginCatalog.BuiltInDirectories(), builtIn: true, services, NullLogger.Instance);
        catalog.LoadFrom([PluginsDirectory], builtIn: false, services, NullLogger.Instance);
        catalog.LoadFrom([stageRoot], builtIn: false, services, NullLogger.Instance);
        var info = catalog.Plugins.LastOrDefault(p => p.Path.StartsWith(stageRoot, StringComparison.Ordinal))
            ?? throw new PluginInstallException($"{name} {version} was not installed: the host did not find it in the staged copy.");
        if (info.Error is { } error)
            throw new PluginInstallException($"{name} {version} was not installed: {error}");
        return catalog.Components.Where(c => c.Plugin == info).Select(c => c.Descriptor).ToList();
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static string Sha256(string file)
    {
        using var s = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
