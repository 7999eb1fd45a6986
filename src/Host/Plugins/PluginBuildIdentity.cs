using System.Reflection;
using System.Runtime.Loader;
using System.Security.Cryptography;
using System.Text;

namespace BiasBench.Host.Plugins;

/// <summary>
/// A plugin build's identity for cache keys: a hash of the module version ids (MVIDs) of the plugin assembly and of
/// every BiasBench assembly it uses (directly or through other BiasBench assemblies), plus the name and MVID of each
/// other non-framework library they reference (TorchSharp, SkiaSharp, ONNX Runtime...).
/// </summary>
/// <remarks>
/// Why MVIDs: the SDK compiles deterministically, so an assembly's MVID is a hash of what was compiled. It changes
/// exactly when the code (or a compiler input) changes and stays the same when the same source is rebuilt, so a
/// rebuild keeps the cache and a code change invalidates it. The informational version does neither reliably (it
/// follows the version number or the git commit, not the code: a dirty tree keeps it, an unrelated commit changes
/// it). The BiasBench libraries count because a plugin's scores come from them too: a fix in BiasBench.Networks
/// changes every CLIP score without touching the plugin's own assembly.
/// </remarks>
public static class PluginBuildIdentity
{
    private const int MaxAssemblies = 200;

    public static string Of(Assembly pluginAssembly)
    {
        ArgumentNullException.ThrowIfNull(pluginAssembly);
        var context = AssemblyLoadContext.GetLoadContext(pluginAssembly) ?? AssemblyLoadContext.Default;
        var parts = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var pending = new Queue<Assembly>([pluginAssembly]);
        var runtimeDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location) ?? "";
        while (pending.Count > 0 && parts.Count < MaxAssemblies)
        {
            var assembly = pending.Dequeue();
            var name = assembly.GetName().Name ?? assembly.FullName ?? "?";
            if (!parts.TryAdd(name, $"{assembly.GetName().Version} {assembly.ManifestModule.ModuleVersionId:N}")) continue;
            if (assembly != pluginAssembly && !IsBiasBench(name)) continue; // other libraries: their own identity, not their references
            foreach (var reference in assembly.GetReferencedAssemblies())
            {
                if (reference.Name is null || parts.ContainsKey(reference.Name)) continue;
                try
                {
                    var loaded = context.LoadFromAssemblyName(reference);
                    if (IsFramework(loaded, runtimeDirectory)) continue;
                    pending.Enqueue(loaded);
                }
                catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
                {
                    parts.TryAdd(reference.Name, $"{reference.Version} unresolved");
                }
            }
        }
        var text = string.Join("\n", parts.Select(kv => $"{kv.Key} {kv.Value}"));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant();
    }

    private static bool IsBiasBench(string name) => name.StartsWith("BiasBench.", StringComparison.Ordinal) || name == "biasbench";

    private static bool IsFramework(Assembly assembly, string runtimeDirectory) =>
        runtimeDirectory.Length > 0 && !string.IsNullOrEmpty(assembly.Location)
        && string.Equals(Path.GetDirectoryName(assembly.Location), runtimeDirectory, StringComparison.Ordinal);
}
