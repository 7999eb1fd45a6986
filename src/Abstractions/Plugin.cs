using Microsoft.Extensions.DependencyInjection;

namespace BiasBench.Abstractions;

/// <summary>Marks the one entry point of a plugin assembly.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class BiasBenchPluginAttribute(Type entryPoint) : Attribute
{
    public Type EntryPoint { get; } = entryPoint;
}

/// <summary>A plugin's single entry point: it registers its components (and any services they need).</summary>
public interface IBiasBenchPlugin
{
    void Register(IPluginRegistrar registrar);
}

/// <summary>What a plugin sees while registering.</summary>
public interface IPluginRegistrar
{
    /// <summary>Services shared with the host (logging, HTTP, device settings...). Plugins may add their own.</summary>
    IServiceCollection Services { get; }

    void Add(ComponentDescriptor component);
}

public enum ComponentKind { Dataset, Generator, RewardModel, Judge, Analysis, FineTuner }

/// <summary>
/// A named component a config can reference. <see cref="OptionsType"/> is bound from the config's
/// <c>options:</c> mapping (unknown keys are errors) and validated with DataAnnotations before any work starts.
/// </summary>
public sealed record ComponentDescriptor(
    ComponentKind Kind,
    string Name,
    string Version,
    string Description,
    Type OptionsType,
    Func<ComponentContext, object, object> Factory)
{
    public string? OptionsValidationHint { get; init; }
}

/// <summary>Everything a component factory gets from the host.</summary>
public sealed record ComponentContext(IServiceProvider Services, RunEnvironment Environment)
{
    /// <summary>Creates the components this component's options reference (<see cref="ComponentReference{T}"/>);
    /// resolve them in the factory or constructor, so the host knows them before the component starts working.</summary>
    public IComponentResolver Components { get; init; } = NoComponentResolver.Instance;
}

internal sealed class NoComponentResolver : IComponentResolver
{
    public static readonly NoComponentResolver Instance = new();

    public T Resolve<T>(ComponentReference<T> reference) where T : class =>
        throw new InvalidOperationException($"No component resolver: '{reference.Plugin}' can only be resolved in a component created by the BiasBench host.");
}

/// <summary>Run-wide settings a component may need.</summary>
public sealed record RunEnvironment(
    string Device,
    string RunDirectory,
    string ConfigDirectory,
    string CacheDirectory,
    int Seed)
{
    /// <summary>Resolves a path from a config relative to the config file's folder.</summary>
    public string ResolvePath(string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(ConfigDirectory, path));
}

public static class PluginRegistrarExtensions
{
    public static void AddRewardModel<TOptions>(this IPluginRegistrar r, string name, string version, string description,
        Func<ComponentContext, TOptions, IRewardModel> factory) where TOptions : class, new()
        => r.Add(new ComponentDescriptor(ComponentKind.RewardModel, name, version, description, typeof(TOptions), (c, o) => factory(c, (TOptions)o)));

    public static void AddGenerator<TOptions>(this IPluginRegistrar r, string name, string version, string description,
        Func<ComponentContext, TOptions, IImageGenerator> factory) where TOptions : class, new()
        => r.Add(new ComponentDescriptor(ComponentKind.Generator, name, version, description, typeof(TOptions), (c, o) => factory(c, (TOptions)o)));

    public static void AddJudge<TOptions>(this IPluginRegistrar r, string name, string version, string description,
        Func<ComponentContext, TOptions, IJudge> factory) where TOptions : class, new()
        => r.Add(new ComponentDescriptor(ComponentKind.Judge, name, version, description, typeof(TOptions), (c, o) => factory(c, (TOptions)o)));

    public static void AddAnalysis<TOptions>(this IPluginRegistrar r, string name, string version, string description,
        Func<ComponentContext, TOptions, IAnalysis> factory) where TOptions : class, new()
        => r.Add(new ComponentDescriptor(ComponentKind.Analysis, name, version, description, typeof(TOptions), (c, o) => factory(c, (TOptions)o)));

    public static void AddFineTuner<TOptions>(this IPluginRegistrar r, string name, string version, string description,
        Func<ComponentContext, TOptions, IFineTuner> factory) where TOptions : class, new()
        => r.Add(new ComponentDescriptor(ComponentKind.FineTuner, name, version, description, typeof(TOptions), (c, o) => factory(c, (TOptions)o)));

    public static void AddDataset<TOptions>(this IPluginRegistrar r, string name, string version, string description,
        Func<ComponentContext, TOptions, IDataset> factory) where TOptions : class, new()
        => r.Add(new ComponentDescriptor(ComponentKind.Dataset, name, version, description, typeof(TOptions), (c, o) => factory(c, (TOptions)o)));
}

/// <summary>
/// Marks an options property whose name ends in Path/File/Directory as an output location: the host resolves it
/// against the config's folder but does not require it to exist.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class OutputPathAttribute : Attribute;

/// <summary>
/// Marks an options property that holds a secret (an API key, a token, a password). The host never writes its value
/// to the manifest, the run log, tables, reports, exception text or cache keys; it is masked as <c>***</c>. Prefer
/// naming an environment variable in the options (e.g. <c>api_key_env: OPENAI_API_KEY</c>) and reading it at run time;
/// a property that holds the value itself must carry this attribute.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SecretAttribute : Attribute;
