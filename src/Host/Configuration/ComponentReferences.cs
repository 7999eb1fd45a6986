using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Plugins;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Configuration;

/// <summary>
/// What the host knows about each <see cref="ComponentReference"/> of a config: where it was written (from the binder)
/// and, once the config is checked, the component it names (from <see cref="ExperimentValidator"/>). Kept beside the
/// reference objects (which belong to the plugins' options) rather than in them.
/// </summary>
public static class ComponentReferences
{
    /// <summary>Where a reference was written: the whole value, its 'plugin' scalar and its 'options' mapping (if any).</summary>
    public sealed record Syntax(string File, SourceLocation Location, SourceLocation PluginLocation, YamlMappingNode? Options);

    /// <summary>A checked reference: the component it names, its path in the options (e.g. <c>rewards[1]</c>) and
    /// whether it gets an instance of its own.</summary>
    public sealed record Planned(RegisteredComponent Component, string Path, bool Exclusive, SourceLocation Location);

    private static readonly ConditionalWeakTable<ComponentReference, Syntax> Syntaxes = new();
    private static readonly ConditionalWeakTable<ComponentReference, Planned> Plans = new();

    internal static void RecordSyntax(ComponentReference reference, Syntax syntax) => Syntaxes.AddOrUpdate(reference, syntax);

    internal static Syntax? SyntaxOf(ComponentReference reference) => Syntaxes.TryGetValue(reference, out var s) ? s : null;

    internal static void RecordPlan(ComponentReference reference, Planned planned) => Plans.AddOrUpdate(reference, planned);

    /// <summary>The checked component a reference names; null for a reference the config check did not see.</summary>
    public static Planned? PlanOf(ComponentReference reference) => Plans.TryGetValue(reference, out var p) ? p : null;

    /// <summary>Every checked reference inside <paramref name="options"/>, depth first (a reference's own references follow it),
    /// with the chain of paths that leads to it (e.g. <c>reward</c>, then <c>reward/members[0]</c>).</summary>
    public static IEnumerable<(string Path, ComponentReference Reference, Planned Plan)> Nested(object? options, string prefix = "")
    {
        foreach (var found in OptionsGraph.References(options))
        {
            if (PlanOf(found.Reference) is not { } plan) continue;
            var path = prefix.Length == 0 ? found.Path : $"{prefix}/{found.Path}";
            yield return (path, found.Reference, plan);
            foreach (var inner in Nested(found.Reference.Options, path)) yield return inner;
        }
    }

    /// <summary>The manifest's entries for referenced components (after the stages' own components): kind, name,
    /// version, plugin, the options with secrets masked, who references them and with which weight.</summary>
    public static IEnumerable<JsonNode> ManifestEntries(IReadOnlyList<PlannedStage> plan) =>
        from stage in plan
        from component in stage.Components
        from nested in Nested(component.Options)
        select (JsonNode)new JsonObject
        {
            ["stage"] = stage.Config.Id,
            ["kind"] = nested.Plan.Component.Descriptor.Kind.ToString(),
            ["name"] = nested.Plan.Component.Descriptor.Name,
            ["version"] = nested.Plan.Component.Descriptor.Version,
            ["plugin"] = nested.Plan.Component.Plugin.Name,
            ["plugin_build_id"] = nested.Plan.Component.Plugin.BuildId,
            ["options"] = SecretOptions.MaskedJson(nested.Reference.Options),
            ["referenced_by"] = $"{component.Component.Descriptor.Name}: {nested.Path}",
            ["weight"] = nested.Reference.Weight,
            ["exclusive_instance"] = nested.Plan.Exclusive,
        };
}
