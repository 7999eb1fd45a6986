using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Plugins;

namespace BiasBench.Host.Configuration;

// Component references in options: `NAME` or `{ plugin: NAME, weight: W, options: {...} }`, where the options are
// those of the named component (one if/then per component of the reference's kind).
public static partial class SchemaGenerator
{
    /// <summary>The catalog for references, and how deep references are already nested (a reward that references rewards
    /// would otherwise nest without end).</summary>
    private sealed record References(PluginCatalog? Catalog, int Depth);

    private static JsonObject ReferenceSchema(Type referenceType, References references)
    {
        var kind = ((ComponentReference)Activator.CreateInstance(referenceType)!).Kind;
        var what = kind is { } k ? ExperimentValidator.Describe(k) : "component";
        var names = kind is { } known && references.Catalog is { } catalog ? catalog.Names(known).ToList() : [];
        JsonObject Name() => names.Count > 0
            ? new JsonObject { ["type"] = "string", ["enum"] = new JsonArray(names.Select(n => (JsonNode)n).ToArray()) }
            : new JsonObject { ["type"] = "string" };
        var mapping = new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["required"] = new JsonArray("plugin"),
            ["properties"] = new JsonObject
            {
                ["plugin"] = Name(),
                ["weight"] = new JsonObject { ["type"] = "number", ["description"] = "Weight in a weighted list (default 1)." },
                ["options"] = new JsonObject { ["type"] = "object" },
            },
        };
        if (references.Depth < ExperimentValidator.MaxReferenceDepth && kind is { } kindOf && references.Catalog is { } components)
        {
            var nested = references with { Depth = references.Depth + 1 };
            var variants = new JsonArray();
            foreach (var name in names)
                variants.Add(new JsonObject
                {
                    ["if"] = new JsonObject { ["properties"] = new JsonObject { ["plugin"] = new JsonObject { ["const"] = name } }, ["required"] = new JsonArray("plugin") },
                    ["then"] = new JsonObject
                    {
                        ["properties"] = new JsonObject { ["options"] = OptionsSchema(components.Find(kindOf, name)!.Descriptor.OptionsType, null, nested) },
                    },
                });
            if (variants.Count > 0) mapping["allOf"] = variants;
        }
        return new JsonObject
        {
            ["description"] = $"A {what}: its name, or {{ plugin: NAME, weight: W, options: {{...}} }}.",
            ["anyOf"] = new JsonArray(Name(), mapping),
        };
    }
}
