using System.Globalization;
using System.Reflection;
using BiasBench.Abstractions;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Configuration;

// Component references (`reward: { plugin: hps-v2.1, weight: 1, options: {...} }`) and stage outputs
// (`model: { from_stage: tune }`). The binder reads their syntax; the referenced plugin's options are bound and checked by
// ExperimentValidator (it knows the plugins), stage outputs are checked there and set at run time.
public static partial class OptionsBinder
{
    private static readonly string[] ReferenceKeys = ["plugin", "weight", "options"];

    private static Converted ConvertReference(YamlNode node, Type type, string file, List<ConfigProblem> problems, string name)
    {
        var reference = (ComponentReference)Activator.CreateInstance(type)!;
        var what = reference.Kind is { } kind ? ExperimentValidator.Describe(kind) : "component";
        var pluginNode = node;
        YamlMappingNode? optionsNode = null;
        switch (node)
        {
            case YamlScalarNode { Value: { Length: > 0 } plugin }:
                reference.Plugin = plugin;
                break;
            case YamlMappingNode map:
                foreach (var (keyNode, value) in map.Children)
                {
                    var key = ((YamlScalarNode)keyNode).Value ?? "";
                    switch (key)
                    {
                        case "plugin":
                            if (value is YamlScalarNode { Value: { Length: > 0 } p }) { reference.Plugin = p; pluginNode = value; }
                            else problems.Add(new ConfigProblem(Loc(file, value), $"option '{name}.plugin' must be the name of a {what}."));
                            break;
                        case "weight":
                            if (value is YamlScalarNode { Value: { } w } && double.TryParse(w, NumberStyles.Float, CultureInfo.InvariantCulture, out var weight) && double.IsFinite(weight))
                                reference.Weight = weight;
                            else problems.Add(new ConfigProblem(Loc(file, value), $"option '{name}.weight' must be a number, got {(value is YamlScalarNode s ? $"'{s.Value}'" : "a " + (value is YamlSequenceNode ? "list" : "mapping"))}."));
                            break;
                        case "options":
                            if (value is YamlMappingNode m) optionsNode = m;
                            else if (value is not YamlScalarNode { Value: null or "" or "~" or "null" })
                                problems.Add(new ConfigProblem(Loc(file, value), $"option '{name}.options' must be a mapping of the {what}'s option names to values."));
                            break;
                        default:
                            problems.Add(new ConfigProblem(Loc(file, keyNode), $"unknown key '{key}' in option '{name}' (a {what}: plugin, weight, options){NearestName.Suggest(key, ReferenceKeys)}."));
                            break;
                    }
                }
                if (!map.Children.ContainsKey("plugin"))
                    problems.Add(new ConfigProblem(Loc(file, map), $"option '{name}' needs 'plugin': the name of a {what}."));
                break;
            default:
                problems.Add(new ConfigProblem(Loc(file, node), $"option '{name}' must name a {what}: NAME, or {{ plugin: NAME, options: {{...}} }}."));
                break;
        }
        ComponentReferences.RecordSyntax(reference, new ComponentReferences.Syntax(file, Loc(file, node), Loc(file, pluginNode), optionsNode));
        // Kept even when its syntax had problems (they are reported): its siblings in a list, and its own options, are
        // still checked in the same pass.
        return new(true, reference);
    }

    /// <summary>
    /// <c>{ from_stage: ID }</c> on an option that names input files: remembered (the stage's checkpoint is set at run
    /// time) and replaced by a placeholder so required-value checks pass. False when the option is not written so.
    /// </summary>
    private static bool TryBindStageOutput(object target, PropertyInfo property, YamlNode node, string file, List<ConfigProblem> problems, string name)
    {
        if (node is not YamlMappingNode map || !StageOutputReferences.Accepts(property)) return false;
        string? stage = null;
        var before = problems.Count;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            if (key != StageOutputReferences.Key)
                problems.Add(new ConfigProblem(Loc(file, keyNode), $"unknown key '{key}' in option '{name}'{NearestName.Suggest(key, [StageOutputReferences.Key])}: " +
                                                                  $"write a path, or {{ {StageOutputReferences.Key}: STAGE_ID }} for the checkpoint of an earlier finetune stage."));
            else if (value is YamlScalarNode { Value: { Length: > 0 } id }) stage = id;
            else problems.Add(new ConfigProblem(Loc(file, value), $"option '{name}': '{StageOutputReferences.Key}' must be the id of an earlier finetune stage."));
        }
        if (stage is null)
        {
            if (problems.Count == before)
                problems.Add(new ConfigProblem(Loc(file, map), $"option '{name}' must be a path, or {{ {StageOutputReferences.Key}: STAGE_ID }} for the checkpoint of an earlier finetune stage."));
            return true;
        }
        StageOutputReferences.Bind(target, property, new StageOutputReference(stage, name, Loc(file, map)));
        property.SetValue(target, StageOutputReferences.Placeholder(stage));
        return true;
    }
}
