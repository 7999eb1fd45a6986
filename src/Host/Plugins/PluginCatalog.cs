using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using BiasBench.Abstractions;
using McMaster.NETCore.Plugins;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BiasBench.Host.Plugins;

/// <summary>A component registered by a plugin, with where it came from.</summary>
public sealed record RegisteredComponent(ComponentDescriptor Descriptor, PluginInfo Plugin);

/// <summary>A plugin assembly that was found, loaded or refused.</summary>
public sealed record PluginInfo(string Name, string Version, string Path, bool BuiltIn, string? Error)
{
    public bool Loaded => Error is null;

    /// <summary>The plugin build's identity (<see cref="PluginBuildIdentity"/>), part of every cache key; null when not loaded.</summary>
    public string? BuildId { get; init; }
}

/// <summary>
/// Finds plugin assemblies in plugin directories and loads each in its own load context with McMaster.NETCore.Plugins.
/// Contracts, Microsoft.Extensions.*, TorchSharp, SkiaSharp, ONNX Runtime and the BiasBench libraries come from the host
/// (PreferSharedTypes), so a plugin never loads a second copy. A plugin built against an incompatible contract
/// version is refused before any of its code runs.
/// </summary>
public sealed class PluginCatalog
{
    public const string AbstractionsAssemblyName = "BiasBench.Abstractions";
    private readonly List<PluginInfo> _plugins = [];
    private readonly Dictionary<(ComponentKind, string), RegisteredComponent> _components = new();
    private readonly List<PluginLoader> _loaders = [];

    public IReadOnlyList<PluginInfo> Plugins => _plugins;
    public IEnumerable<RegisteredComponent> Components => _components.Values.OrderBy(c => c.Descriptor.Kind).ThenBy(c => c.Descriptor.Name);

    public static Version HostContractVersion => typeof(IBiasBenchPlugin).Assembly.GetName().Version!;

    /// <summary>Built-in plugin folders: next to the executable (published layout) and artifacts/plugins (repository build).</summary>
    public static IEnumerable<string> BuiltInDirectories()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "plugins");
        if (Directory.Exists(beside)) yield return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BiasBench.sln")))
            {
                var artifacts = Path.Combine(dir.FullName, "artifacts", "plugins");
                if (Directory.Exists(artifacts)) yield return artifacts;
                yield break;
            }
        }
    }

    /// <summary>Loads every plugin under the given directories. Failures are recorded, never thrown.</summary>
    public void LoadFrom(IEnumerable<string> directories, bool builtIn, IServiceCollection services, ILogger logger)
    {
        foreach (var dir in directories.Select(Path.GetFullPath).Distinct())
        {
            if (!Directory.Exists(dir))
            {
                _plugins.Add(new PluginInfo(Path.GetFileName(dir), "?", dir, builtIn, $"plugin directory '{dir}' does not exist"));
                continue;
            }
            foreach (var assemblyPath in FindCandidateAssemblies(dir))
            {
                if (_plugins.Any(p => string.Equals(p.Path, assemblyPath, StringComparison.Ordinal))) continue;
                var info = LoadOne(assemblyPath, builtIn, services, logger);
                _plugins.Add(info);
                if (info.Error is not null) logger.LogWarning("Plugin {Path} was not loaded: {Error}", assemblyPath, info.Error);
                else logger.LogDebug("Loaded plugin {Name} {Version} from {Path}", info.Name, info.Version, assemblyPath);
            }
        }
    }

    /// <summary>Registers components from an assembly already loaded in the host (tests, embedded plugins).</summary>
    public void AddLoaded(IBiasBenchPlugin plugin, PluginInfo info, IServiceCollection services)
    {
        if (info.BuildId is null && info.Loaded) info = info with { BuildId = PluginBuildIdentity.Of(plugin.GetType().Assembly) };
        var registrar = new Registrar(services, info, this);
        plugin.Register(registrar);
        registrar.Commit();
        _plugins.Add(info);
    }

    public RegisteredComponent? Find(ComponentKind kind, string name) =>
        _components.TryGetValue((kind, name), out var c) ? c : null;

    public IEnumerable<string> Names(ComponentKind kind) =>
        _components.Keys.Where(k => k.Item1 == kind).Select(k => k.Item2).Order();

    private PluginInfo LoadOne(string assemblyPath, bool builtIn, IServiceCollection services, ILogger logger)
    {
        var name = Path.GetFileNameWithoutExtension(assemblyPath);
        string version = "?";
        try
        {
            var (hasAttribute, referenced, asmVersion) = InspectMetadata(assemblyPath);
            version = asmVersion;
            if (!hasAttribute)
                return new PluginInfo(name, version, assemblyPath, builtIn, "the assembly has no [assembly: BiasBenchPlugin(typeof(...))] entry point");
            if (CompatibilityError(referenced) is { } incompatible)
                return new PluginInfo(name, version, assemblyPath, builtIn, incompatible);

            var loader = PluginLoader.CreateFromAssemblyFile(assemblyPath,
                sharedTypes: [typeof(IBiasBenchPlugin), typeof(IServiceCollection), typeof(ILogger)],
                configure: c => c.PreferSharedTypes = true);
            _loaders.Add(loader);
            var assembly = loader.LoadDefaultAssembly();
            var attribute = assembly.GetCustomAttribute<BiasBenchPluginAttribute>()
                ?? throw new InvalidOperationException("entry-point attribute not readable (was the plugin built against another copy of BiasBench.Abstractions?)");
            if (!typeof(IBiasBenchPlugin).IsAssignableFrom(attribute.EntryPoint))
                return new PluginInfo(name, version, assemblyPath, builtIn, $"entry point {attribute.EntryPoint.FullName} does not implement IBiasBenchPlugin");
            var plugin = (IBiasBenchPlugin)Activator.CreateInstance(attribute.EntryPoint)!;
            var info = new PluginInfo(assembly.GetName().Name ?? name, version, assemblyPath, builtIn, null) { BuildId = PluginBuildIdentity.Of(assembly) };
            var registrar = new Registrar(services, info, this);
            plugin.Register(registrar);
            registrar.Commit();
            return info;
        }
        catch (Exception e)
        {
            var inner = e is TargetInvocationException { InnerException: { } ie } ? ie : e;
            return new PluginInfo(name, version, assemblyPath, builtIn, $"{inner.GetType().Name}: {inner.Message}");
        }
    }

    /// <summary>Null when compatible; otherwise a message a plugin author can act on.</summary>
    public static string? CompatibilityError(Version? referenced)
    {
        var host = HostContractVersion;
        if (referenced is null) return $"the assembly does not reference {AbstractionsAssemblyName}";
        if (referenced.Major != host.Major || referenced.Minor > host.Minor)
            return $"built against {AbstractionsAssemblyName} {referenced.ToString(3)}, but this host provides {host.ToString(3)}; rebuild the plugin against {host.Major}.x (<= {host.ToString(2)})";
        return null;
    }

    internal static (bool HasAttribute, Version? AbstractionsVersion, string Version) InspectMetadata(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata) throw new BadImageFormatException($"{path} is not a .NET assembly");
        var md = pe.GetMetadataReader();
        Version? abstractions = null;
        foreach (var h in md.AssemblyReferences)
        {
            var r = md.GetAssemblyReference(h);
            if (md.GetString(r.Name) == AbstractionsAssemblyName) abstractions = r.Version;
        }
        var hasAttribute = false;
        foreach (var ah in md.GetAssemblyDefinition().GetCustomAttributes())
        {
            var attr = md.GetCustomAttribute(ah);
            var typeName = attr.Constructor.Kind switch
            {
                HandleKind.MemberReference => md.GetMemberReference((MemberReferenceHandle)attr.Constructor).Parent is var p && p.Kind == HandleKind.TypeReference
                    ? md.GetString(md.GetTypeReference((TypeReferenceHandle)p).Name) : null,
                _ => null,
            };
            if (typeName == nameof(BiasBenchPluginAttribute)) hasAttribute = true;
        }
        var def = md.GetAssemblyDefinition();
        var informational = def.GetCustomAttributes().Select(md.GetCustomAttribute)
            .Where(a => a.Constructor.Kind == HandleKind.MemberReference && md.GetMemberReference((MemberReferenceHandle)a.Constructor).Parent is var p && p.Kind == HandleKind.TypeReference
                        && md.GetString(md.GetTypeReference((TypeReferenceHandle)p).Name) == nameof(AssemblyInformationalVersionAttribute))
            .Select(a => { var blob = md.GetBlobReader(a.Value); blob.ReadUInt16(); return blob.ReadSerializedString(); })
            .FirstOrDefault();
        return (hasAttribute, abstractions, informational?.Split('+')[0] ?? def.Version.ToString());
    }

    /// <summary>Plugin assemblies: 'X/X.dll' (one folder per plugin) or any 'X.dll' with an 'X.deps.json' in the folder itself.</summary>
    private static IEnumerable<string> FindCandidateAssemblies(string dir)
    {
        foreach (var deps in Directory.EnumerateFiles(dir, "*.deps.json"))
        {
            var dll = deps[..^".deps.json".Length] + ".dll";
            if (File.Exists(dll) && ReferencesAbstractions(dll)) yield return dll;
        }
        foreach (var sub in Directory.EnumerateDirectories(dir).Order())
        {
            var dll = Path.Combine(sub, Path.GetFileName(sub) + ".dll");
            if (File.Exists(dll)) yield return dll;
        }
    }

    private static bool ReferencesAbstractions(string dll)
    {
        try { return InspectMetadata(dll).AbstractionsVersion is not null; }
        catch (Exception) { return false; }
    }

    private sealed class Registrar(IServiceCollection services, PluginInfo plugin, PluginCatalog catalog) : IPluginRegistrar
    {
        private readonly List<ComponentDescriptor> _pending = [];
        public IServiceCollection Services { get; } = services;

        public void Add(ComponentDescriptor component)
        {
            ArgumentNullException.ThrowIfNull(component);
            if (string.IsNullOrWhiteSpace(component.Name)) throw new ArgumentException("A component needs a name.");
            if (component.OptionsType.GetConstructor(Type.EmptyTypes) is null)
                throw new ArgumentException($"Options type {component.OptionsType.Name} of '{component.Name}' needs a public parameterless constructor.");
            _pending.Add(component);
        }

        public void Commit()
        {
            foreach (var c in _pending)
            {
                if (catalog._components.TryGetValue((c.Kind, c.Name), out var existing))
                    throw new InvalidOperationException($"{c.Kind} '{c.Name}' is already registered by plugin {existing.Plugin.Name} ({existing.Plugin.Path}).");
                catalog._components[(c.Kind, c.Name)] = new RegisteredComponent(c, plugin);
            }
        }
    }
}
