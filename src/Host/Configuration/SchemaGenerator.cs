using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Plugins;

namespace BiasBench.Host.Configuration;

/// <summary>JSON Schema (draft 2020-12) of experiment configs, including every loaded plugin's options, for editors.</summary>
public static partial class SchemaGenerator
{
    public static JsonObject Generate(PluginCatalog catalog)
    {
        var stageVariants = new JsonArray();
        foreach (var kind in Enum.GetValues<StageKind>())
        {
            if (kind == StageKind.Report)
            {
                stageVariants.Add(new JsonObject { ["if"] = KindIs(kind), ["then"] = new JsonObject() });
                continue;
            }
            var componentKind = ExperimentValidator.ComponentKindOf(kind);
            var names = catalog.Names(componentKind).ToList();
            foreach (var name in names)
            {
                var c = catalog.Find(componentKind, name)!;
                stageVariants.Add(new JsonObject
                {
                    ["if"] = new JsonObject
                    {
                        ["properties"] = new JsonObject { ["kind"] = new JsonObject { ["const"] = kind.ToString().ToLowerInvariant() }, ["plugin"] = new JsonObject { ["const"] = name } },
                        ["required"] = new JsonArray("kind", "plugin"),
                    },
                    ["then"] = new JsonObject { ["properties"] = new JsonObject { ["options"] = OptionsSchema(c.Descriptor.OptionsType, c.Descriptor.Description, catalog) } },
                });
            }
        }
        var stage = new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["required"] = new JsonArray("kind"),
            ["properties"] = new JsonObject
            {
                ["id"] = new JsonObject { ["type"] = "string", ["pattern"] = "^[A-Za-z0-9][A-Za-z0-9_.-]*$" },
                ["kind"] = new JsonObject { ["enum"] = new JsonArray(Enum.GetNames<StageKind>().Select(n => (JsonNode)n.ToLowerInvariant()).ToArray()) },
                ["plugin"] = new JsonObject
                {
                    ["description"] = "Component name (a list scores with several reward models).",
                    ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "string" }, new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } }),
                },
                ["options"] = new JsonObject { ["type"] = "object" },
                ["inputs"] = new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "string" }, new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } }) },
                ["sweep"] = new JsonObject { ["type"] = "object", ["additionalProperties"] = new JsonObject { ["type"] = "array" } },
                ["prompt"] = new JsonObject { ["type"] = "string" },
                ["prompts"] = new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } }, new JsonObject { ["type"] = "object", ["additionalProperties"] = new JsonObject { ["type"] = "string" } }) },
                ["seeds"] = new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "integer" } }, new JsonObject { ["type"] = "string", ["pattern"] = "^-?\\d+\\.\\.-?\\d+$" }) },
                ["batch_size"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1 },
                ["negative_prompt"] = new JsonObject { ["type"] = "string", ["description"] = "Generate stages: the negative prompt of every image." },
                ["scoring_prompt"] = new JsonObject { ["type"] = "string", ["description"] = "Score stages: score every image against this prompt instead of its own." },
            },
            ["allOf"] = stageVariants,
        };
        return new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["title"] = "BiasBench experiment",
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["required"] = new JsonArray("experiment", "stages"),
            ["properties"] = new JsonObject
            {
                ["experiment"] = new JsonObject { ["type"] = "string", ["pattern"] = "^[A-Za-z0-9][A-Za-z0-9_.-]*$" },
                ["description"] = new JsonObject { ["type"] = "string" },
                ["seed"] = new JsonObject { ["type"] = "integer" },
                ["device"] = new JsonObject { ["type"] = "string", ["pattern"] = "^(cpu|cuda|auto|cuda:\\d+)$" },
                ["cache_dir"] = new JsonObject { ["type"] = "string" },
                ["runs_dir"] = new JsonObject { ["type"] = "string" },
                ["plugin_paths"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } },
                ["stages"] = new JsonObject { ["type"] = "array", ["minItems"] = 1, ["items"] = stage },
            },
        };
    }

    private static JsonObject KindIs(StageKind kind) => new()
    {
        ["properties"] = new JsonObject { ["kind"] = new JsonObject { ["const"] = kind.ToString().ToLowerInvariant() } },
    };

    /// <param name="catalog">When given, component references in the options list the components of their kind and
    /// each one's options.</param>
    public static JsonObject OptionsSchema(Type type, string? description = null, PluginCatalog? catalog = null) =>
        OptionsSchema(type, description, new References(catalog, 0));

    private static JsonObject OptionsSchema(Type type, string? description, References references)
    {
        var props = new JsonObject();
        var required = new JsonArray();
        var defaults = type.GetConstructor(Type.EmptyTypes) is not null ? Activator.CreateInstance(type) : null;
        foreach (var (key, prop) in OptionsBinder.BindableProperties(type))
        {
            var valueSchema = TypeSchema(prop.PropertyType, 0, references);
            props[key] = StageOutputReferences.Accepts(prop) ? StageOutputReferences.Schema(valueSchema) : valueSchema; // or { from_stage: ID }
            // [Required] with a usable default (e.g. id_column = "image_id") may be left out of a config: not required here.
            if (prop.GetCustomAttributes(typeof(System.ComponentModel.DataAnnotations.RequiredAttribute), true).Length > 0
                && !HasDefault(defaults is null ? null : prop.GetValue(defaults)))
                required.Add(key);
        }
        var schema = new JsonObject { ["type"] = "object", ["additionalProperties"] = false, ["properties"] = props };
        if (required.Count > 0) schema["required"] = required;
        if (description is not null) schema["description"] = description;
        return schema;
    }

    private static bool HasDefault(object? value) => value switch
    {
        null => false,
        string s => s.Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        _ => true,
    };

    private static JsonObject TypeSchema(Type t, int depth, References references)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (typeof(ComponentReference).IsAssignableFrom(t)) return ReferenceSchema(t, references);
        if (t == typeof(string)) return new JsonObject { ["type"] = "string" };
        if (t == typeof(bool)) return new JsonObject { ["type"] = "boolean" };
        if (t == typeof(int) || t == typeof(long)) return new JsonObject { ["type"] = "integer" };
        if (t == typeof(double) || t == typeof(float)) return new JsonObject { ["type"] = "number" };
        if (t.IsEnum) return new JsonObject { ["enum"] = new JsonArray(Enum.GetNames(t).Select(n => (JsonNode)OptionsBinder.SnakeCase(n)).ToArray()) };
        // The binder accepts one value for a one-element list (`covariates: Smiling`), and so does the schema.
        if (t.IsArray) return ListSchema(t.GetElementType()!, depth, references);
        if (t.IsGenericType && t.GetGenericArguments().Length == 1) return ListSchema(t.GetGenericArguments()[0], depth, references);
        if (t.IsGenericType && t.GetGenericArguments().Length == 2) return new JsonObject { ["type"] = "object", ["additionalProperties"] = TypeSchema(t.GetGenericArguments()[1], depth + 1, references) };
        if (t.IsClass && depth < 4) return OptionsSchema(t, null, references);
        return new JsonObject();
    }

    private static JsonObject ListSchema(Type element, int depth, References references)
    {
        var item = TypeSchema(element, depth + 1, references);
        var list = new JsonObject { ["type"] = "array", ["items"] = item };
        if (typeof(ComponentReference).IsAssignableFrom(element)) // `rewards: hps-v2.1` is a list of one, as for scalars
            return new JsonObject { ["anyOf"] = new JsonArray(list, item["anyOf"]![0]!.DeepClone()) };
        return item["type"]?.GetValue<string>() is "string" or "number" or "integer" or "boolean"
            ? new JsonObject { ["anyOf"] = new JsonArray(list, item.DeepClone()) }
            : list;
    }
}
