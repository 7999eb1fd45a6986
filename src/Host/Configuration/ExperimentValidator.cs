using System.Reflection;
using BiasBench.Abstractions;
using BiasBench.Host.Plugins;

namespace BiasBench.Host.Configuration;

/// <summary>A stage ready to run: its config and, per plugin, the component and its bound, validated options.</summary>
public sealed record PlannedStage(StageConfig Config, IReadOnlyList<PlannedComponent> Components);

public sealed record PlannedComponent(RegisteredComponent Component, object Options);

/// <summary>
/// Checks a parsed experiment against the loaded plugins before any work starts: every plugin exists with the
/// right kind, its options bind and validate, and every input file the options name exists.
/// </summary>
public static partial class ExperimentValidator
{
    public static ComponentKind ComponentKindOf(StageKind kind) => kind switch
    {
        StageKind.Data => ComponentKind.Dataset,
        StageKind.Generate => ComponentKind.Generator,
        StageKind.Score => ComponentKind.RewardModel,
        StageKind.Judge => ComponentKind.Judge,
        StageKind.Analyze => ComponentKind.Analysis,
        StageKind.Finetune => ComponentKind.FineTuner,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "report stages take no plugin"),
    };

    /// <summary>
    /// Binds and checks every stage; <paramref name="earlier"/> are the problems the loader already found (a config
    /// with structural problems is still checked here, so every problem is reported in one pass). Throws a
    /// <see cref="ConfigException"/> listing all of them, each once, naming the stage and plugin.
    /// </summary>
    /// <param name="missingWeights">When given, weights named by <see cref="ModelWeightsAttribute"/> options that are
    /// not on disk are listed here (for <c>validate</c>); otherwise they are config problems (a run must not start).</param>
    /// <param name="hubCacheDirectory">The Hugging Face cache to look model names up in (default: HF_HUB_CACHE etc.).</param>
    public static IReadOnlyList<PlannedStage> Validate(ExperimentConfig config, PluginCatalog catalog, IReadOnlyList<ConfigProblem>? earlier = null,
        ICollection<string>? missingWeights = null, string? hubCacheDirectory = null)
    {
        hubCacheDirectory ??= BiasBench.Hub.HubOptions.FromEnvironment().CacheDirectory;
        var problems = new List<ConfigProblem>(earlier ?? []);
        var planned = new List<PlannedStage>();
        foreach (var stage in config.Stages)
        {
            var components = new List<PlannedComponent>();
            if (stage.Kind != StageKind.Report)
            {
                var kind = ComponentKindOf(stage.Kind);
                foreach (var name in stage.Plugins)
                {
                    var component = catalog.Find(kind, name);
                    if (component is null)
                    {
                        var failed = catalog.Plugins.Where(p => !p.Loaded).Select(p => $"{p.Name}: {p.Error}").ToList();
                        var note = failed.Count == 0 ? "" : $" Plugins that failed to load: {string.Join("; ", failed)}.";
                        problems.Add(new ConfigProblem(stage.PluginLocation,
                            $"stage '{stage.BaseId}': no {Describe(kind)} named '{name}'{NearestName.Suggest(name, catalog.Names(kind))}.{note}"));
                        continue;
                    }
                    // Sweep instances share option nodes: prefixing with the stage's base id makes their problems identical, so each is reported once.
                    var prefix = $"stage '{stage.BaseId}', {Describe(kind)} '{name}': ";
                    var found = new List<ConfigProblem>();
                    var options = OptionsBinder.Bind(component.Descriptor.OptionsType, stage.Options, config.FilePath, found);
                    if (found.Count == 0)
                    {
                        ResolveAndCheckPaths(options, config.Directory, stage, found, "");
                        ResolveModelWeights(options, config.Directory, stage, name, hubCacheDirectory, found, missingWeights);
                    }
                    CheckReferences(config, stage, name, options, catalog, hubCacheDirectory, found, missingWeights); // components in options, { from_stage: ID }
                    foreach (var secret in SecretOptions.SecretOptionNames(component.Descriptor.OptionsType).Where(stage.SweepValues.ContainsKey))
                        found.Add(new ConfigProblem(stage.Location, $"option '{secret}' is a secret and cannot be swept (sweep values name the stage and its files)."));
                    problems.AddRange(found.Select(p => p with { Message = prefix + p.Message }));
                    components.Add(new PlannedComponent(component, options));
                }
            }
            planned.Add(new PlannedStage(stage, components));
        }
        if (problems.Count > 0) throw new ConfigException(problems);
        return planned;
    }

    public static string Describe(ComponentKind kind) => kind switch
    {
        ComponentKind.Dataset => "dataset",
        ComponentKind.Generator => "generator",
        ComponentKind.RewardModel => "reward model",
        ComponentKind.Judge => "judge",
        ComponentKind.Analysis => "analysis",
        ComponentKind.FineTuner => "fine-tuner",
        _ => kind.ToString(),
    };

    /// <summary>
    /// Options named *Path, *File, *Directory or *Dir are input locations: resolved against the config's folder
    /// (so plugins always get absolute paths) and required to exist, unless the option is marked [OutputPath].
    /// </summary>
    private static void ResolveAndCheckPaths(object options, string baseDirectory, StageConfig stage, List<ConfigProblem> problems, string prefix, SourceLocation? at = null)
    {
        foreach (var (key, prop) in OptionsBinder.BindableProperties(options.GetType()))
        {
            if (prop.PropertyType != typeof(string) || !IsPathName(prop.Name)) continue;
            if (StageOutputReferences.IsBound(options, prop)) continue; // set at run time
            if (prop.GetCustomAttribute<ModelWeightsAttribute>() is not null) continue; // ResolveModelWeights
            if (prop.GetValue(options) is not string value || value.Length == 0) continue;
            if (value.Contains("://")) continue; // URLs and hub ids are checked by the plugin
            var full = Path.IsPathRooted(value) ? value : Path.GetFullPath(Path.Combine(baseDirectory, value));
            prop.SetValue(options, full);
            if (prop.GetCustomAttribute<OutputPathAttribute>() is not null) continue;
            if (!File.Exists(full) && !Directory.Exists(full))
            {
                var hint = prop.GetCustomAttribute<MissingPathHintAttribute>() is { } h ? " " + h.Hint : "";
                problems.Add(new ConfigProblem(at ?? stage.OptionsLocation, $"option '{prefix}{key}' names '{value}', which does not exist (resolved to {full}).{hint}"));
            }
        }
    }

    /// <summary>Options marked [ModelWeights]: local paths, or model names / hub repositories found in the hub cache.</summary>
    private static void ResolveModelWeights(object options, string baseDirectory, StageConfig stage, string component, string hubCache,
        List<ConfigProblem> problems, ICollection<string>? missingWeights, SourceLocation? at = null, string listedPrefix = "")
    {
        foreach (var (key, prop) in OptionsBinder.BindableProperties(options.GetType()))
        {
            if (prop.PropertyType != typeof(string) || prop.GetCustomAttribute<ModelWeightsAttribute>() is null) continue;
            if (StageOutputReferences.IsBound(options, prop)) continue; // set at run time
            if (prop.GetValue(options) is not string value || value.Length == 0) continue;
            var resolved = ModelWeightsResolver.Resolve(value, baseDirectory, component, hubCache, out var missing);
            if (resolved is not null) { prop.SetValue(options, resolved); continue; }
            var message = $"option '{key}': {missing}";
            // The caller prefixes config problems with the stage and plugin; listed weights carry the prefix themselves.
            if (missingWeights is not null) missingWeights.Add($"stage '{stage.BaseId}' ({component}): {listedPrefix}{message}");
            else problems.Add(new ConfigProblem(at ?? stage.OptionsLocation, message));
        }
    }

    internal static bool IsPathName(string name) =>
        name.EndsWith("Path", StringComparison.Ordinal) || name.EndsWith("File", StringComparison.Ordinal)
        || name.EndsWith("Directory", StringComparison.Ordinal) || name.EndsWith("Dir", StringComparison.Ordinal)
        || name is "Path" or "File";
}
