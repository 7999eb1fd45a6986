using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Runs;

namespace BiasBench.Host.Configuration;

/// <summary>An option written <c>{ from_stage: ID }</c>: it takes the checkpoint of stage ID.</summary>
public sealed record StageOutputReference(string StageId, string OptionPath, SourceLocation Location);

/// <summary>
/// Stage outputs that later stages consume: an option that names input files (a <see cref="ModelWeightsAttribute"/>
/// option, or one named *Path, *File, *Directory, *Dir that is not an <see cref="OutputPathAttribute"/>) may be written
/// <c>{ from_stage: ID }</c>. The config check requires ID to be an earlier finetune stage with one fine-tuner and one
/// instance; at run time, before the component is created, the option is set to that stage's checkpoint path.
/// </summary>
public static class StageOutputReferences
{
    public const string Key = "from_stage";

    private static readonly ConditionalWeakTable<object, List<(PropertyInfo Property, StageOutputReference Reference)>> Bindings = new();

    public static bool Accepts(PropertyInfo property) =>
        property.PropertyType == typeof(string) && !SecretOptions.IsSecret(property) && property.GetCustomAttribute<OutputPathAttribute>() is null
        && (property.GetCustomAttribute<ModelWeightsAttribute>() is not null || ExperimentValidator.IsPathName(property.Name));

    /// <summary>What the option holds until the run sets the checkpoint's path (shown by <c>validate</c> and in the manifest).</summary>
    public static string Placeholder(string stageId) => $"<checkpoint of stage '{stageId}'>";

    internal static void Bind(object target, PropertyInfo property, StageOutputReference reference)
    {
        var list = Bindings.GetOrCreateValue(target);
        lock (list)
        {
            list.RemoveAll(b => b.Property == property);
            list.Add((property, reference));
        }
    }

    public static bool IsBound(object target, PropertyInfo property) =>
        Bindings.TryGetValue(target, out var list) && list.Any(b => b.Property == property);

    /// <summary>Every <c>from_stage</c> option in the options (nested option objects included, references' own options not).</summary>
    public static IReadOnlyList<(object Target, PropertyInfo Property, StageOutputReference Reference)> In(object? options) =>
        OptionsGraph.Objects(options)
            .SelectMany(o => Bindings.TryGetValue(o, out var list) ? list.Select(b => (o, b.Property, b.Reference)) : [])
            .ToList();

    /// <summary>Plan time: each <c>from_stage</c> names an earlier finetune stage that yields exactly one checkpoint.</summary>
    internal static void Check(ExperimentConfig config, StageConfig stage, object? options, List<ConfigProblem> problems)
    {
        var index = IndexOf(config.Stages, stage);
        var earlier = config.Stages.Take(index).ToList();
        foreach (var (_, _, reference) in In(options))
        {
            var id = reference.StageId;
            var matches = earlier.Where(s => s.Id == id).ToList();
            if (matches.Count == 0) matches = earlier.Where(s => s.BaseId == id).ToList();
            string? problem;
            if (matches.Count == 0)
                problem = config.Stages.Skip(index).Any(s => s.Id == id || s.BaseId == id)
                    ? $"stage '{id}' is not an earlier stage: a stage can use the output of a stage above it only."
                    : $"there is no stage '{id}'{NearestName.Suggest(id, earlier.Select(s => s.BaseId).Distinct())}.";
            else if (matches[0].Kind != StageKind.Finetune)
                problem = $"stage '{id}' is a {matches[0].Kind.ToString().ToLowerInvariant()} stage; only finetune stages produce a checkpoint.";
            else if (matches.Count > 1)
                problem = $"stage '{id}' has {matches.Count} sweep instances ({string.Join(", ", matches.Select(m => m.Id))}); name one of them.";
            else if (matches[0].Plugins.Count != 1)
                problem = $"stage '{id}' runs {matches[0].Plugins.Count} fine-tuners; give the one whose checkpoint you need a stage of its own.";
            else problem = null;
            if (problem is not null) problems.Add(new ConfigProblem(reference.Location, $"option '{reference.OptionPath}': {problem}"));
        }
    }

    /// <summary>Run time: sets every <c>from_stage</c> option to the checkpoint its stage produced.</summary>
    /// <param name="outputs">The finished stages, in order.</param>
    internal static void Apply(object? options, IReadOnlyList<StageOutput> outputs)
    {
        foreach (var (target, property, reference) in In(options))
        {
            var id = reference.StageId;
            var stage = outputs.Where(o => o.Stage.Id == id).ToList();
            if (stage.Count == 0) stage = outputs.Where(o => o.Stage.BaseId == id).ToList();
            var checkpoints = stage.SelectMany(o => o.Checkpoints).ToList();
            if (checkpoints.Count != 1)
                throw new InvalidOperationException(stage.Count == 0
                    ? $"option '{reference.OptionPath}': stage '{id}' has not run."
                    : $"option '{reference.OptionPath}': stage '{id}' produced {checkpoints.Count} checkpoints, not one.");
            property.SetValue(target, checkpoints[0].Path);
        }
    }

    /// <summary>The schema of an option that accepts <c>{ from_stage: ID }</c> besides its plain value.</summary>
    internal static JsonObject Schema(JsonObject plain) => new()
    {
        ["anyOf"] = new JsonArray(plain, new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["required"] = new JsonArray(Key),
            ["properties"] = new JsonObject
            {
                [Key] = new JsonObject { ["type"] = "string", ["description"] = "The id of an earlier finetune stage: its checkpoint's path." },
            },
        }),
    };

    internal static int IndexOf(IReadOnlyList<StageConfig> stages, StageConfig stage)
    {
        for (var i = 0; i < stages.Count; i++) if (ReferenceEquals(stages[i], stage)) return i;
        return stages.Count;
    }
}
