using BiasBench.Abstractions;
using BiasBench.Host.Plugins;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Configuration;

// Components referenced in options, checked like stages' own components.
public static partial class ExperimentValidator
{
    /// <summary>How deep references may nest (a fine-tuner's reward that itself references models is depth 2).</summary>
    public const int MaxReferenceDepth = 4;

    /// <summary>
    /// Checks the <c>{ from_stage: ID }</c> options and the component references in <paramref name="options"/>: each names
    /// a component of the right kind (else the nearest name, or the kind it has), its options bind and validate (problems
    /// located in the file and prefixed with the reference's path and component), its input files and weights exist, and
    /// so on down its own references. Binds <see cref="ComponentReference.Options"/> and records the plan of each reference.
    /// </summary>
    private static void CheckReferences(ExperimentConfig config, StageConfig stage, string component, object? options, PluginCatalog catalog, string hubCache,
        List<ConfigProblem> problems, ICollection<string>? missingWeights, string listedPrefix = "", int depth = 0)
    {
        if (options is null) return;
        StageOutputReferences.Check(config, stage, options, problems);
        foreach (var (path, reference, exclusive) in OptionsGraph.References(options))
        {
            var syntax = ComponentReferences.SyntaxOf(reference);
            var at = syntax?.Location ?? stage.OptionsLocation;
            if (reference.Kind is not { } kind)
            {
                problems.Add(new ConfigProblem(at, $"option '{path}' refers to a {reference.GetComponentType().Name}, which is no component contract " +
                                                   "(the plugin must use IRewardModel, IImageGenerator, IJudge, IDataset, IAnalysis or IFineTuner)."));
                continue;
            }
            if (depth >= MaxReferenceDepth)
            {
                problems.Add(new ConfigProblem(at, $"option '{path}': components nest more than {MaxReferenceDepth} deep."));
                continue;
            }
            var what = Describe(kind);
            var registered = string.IsNullOrEmpty(reference.Plugin) ? null : catalog.Find(kind, reference.Plugin);
            if (registered is null)
            {
                if (string.IsNullOrEmpty(reference.Plugin)) continue; // the binder reported the missing name
                var other = Enum.GetValues<ComponentKind>().Where(k => k != kind).Select(k => catalog.Find(k, reference.Plugin)).FirstOrDefault(c => c is not null);
                problems.Add(new ConfigProblem(syntax?.PluginLocation ?? at, other is not null
                    ? $"option '{path}': '{reference.Plugin}' is a {Describe(other.Descriptor.Kind)}, not a {what}."
                    : $"option '{path}': no {what} named '{reference.Plugin}'{NearestName.Suggest(reference.Plugin, catalog.Names(kind))}.{FailedPluginsNote(catalog)}"));
                continue;
            }
            var prefix = $"{path} ({what} '{reference.Plugin}'): ";
            var file = syntax?.File ?? config.FilePath;
            var optionsAt = syntax?.Options is { } node ? new SourceLocation(file, (int)node.Start.Line, (int)node.Start.Column) : at;
            var found = new List<ConfigProblem>();
            var nested = OptionsBinder.Bind(registered.Descriptor.OptionsType, syntax?.Options ?? new YamlMappingNode(), file, found);
            // Options left out entirely (bound from an empty mapping): what their validation says is placed at the reference.
            if (syntax?.Options is null) found = found.Select(p => p with { Location = optionsAt }).ToList();
            if (found.Count == 0)
            {
                ResolveAndCheckPaths(nested, config.Directory, stage, found, "", optionsAt);
                ResolveModelWeights(nested, config.Directory, stage, component, hubCache, found, missingWeights, optionsAt, listedPrefix + prefix);
            }
            reference.Options = nested;
            CheckReferences(config, stage, component, nested, catalog, hubCache, found, missingWeights, listedPrefix + prefix, depth + 1);
            problems.AddRange(found.Select(p => p with { Message = prefix + p.Message }));
            ComponentReferences.RecordPlan(reference, new ComponentReferences.Planned(registered, path, exclusive, at));
        }
        if (depth > 0) return;
        // A swept reference names the stage instance (and its files) by its YAML: it must not hold a secret.
        var properties = OptionsBinder.BindableProperties(options.GetType());
        foreach (var key in stage.SweepValues.Keys)
            if (properties.TryGetValue(key, out var property)
                && OptionsGraph.References(property.GetValue(options)).Any(r => SecretOptions.ValuesOf(r.Reference.Options).Count > 0))
                problems.Add(new ConfigProblem(stage.Location, $"option '{key}' holds a component with a secret option and cannot be swept (sweep values name the stage and its files)."));
    }

    private static string FailedPluginsNote(PluginCatalog catalog)
    {
        var failed = catalog.Plugins.Where(p => !p.Loaded).Select(p => $"{p.Name}: {p.Error}").ToList();
        return failed.Count == 0 ? "" : $" Plugins that failed to load: {string.Join("; ", failed)}.";
    }
}
