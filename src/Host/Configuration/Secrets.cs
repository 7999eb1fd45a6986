using System.Collections;
using System.Collections.Immutable;
using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using BiasBench.Abstractions;

namespace BiasBench.Host.Configuration;

/// <summary>
/// Values that must never be written anywhere: the values of options marked <see cref="SecretAttribute"/> and of
/// ${VARIABLE}s whose name says they are secret (KEY, TOKEN, ...). Everything the host writes (manifest, run log,
/// console, tables, figures, reports, cache lines, error messages) passes through <see cref="Redact(string)"/>.
/// </summary>
/// <remarks>
/// Process-wide on purpose: a value that is a secret for one run must not appear in any output of the process
/// (environment variables are process-wide too), and every writer can reach it without plumbing. Free text is only
/// searched for values of at least <see cref="MinimumLength"/> characters (masking every "a" would destroy the
/// output); shorter secrets are still masked wherever the host knows an option is secret (options, config scalars).
/// </remarks>
public static class SecretValues
{
    public const string Mask = "***";
    public const int MinimumLength = 4;
    private static ImmutableArray<string> _values = [];
    private static readonly object Gate = new();

    /// <summary>Every registered value, longest first.</summary>
    public static IReadOnlyList<string> All => _values;

    public static void Add(string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        lock (Gate)
        {
            if (_values.Contains(value)) return;
            _values = [.. _values.Add(value).OrderByDescending(v => v.Length).ThenBy(v => v, StringComparer.Ordinal)];
        }
    }

    public static void AddRange(IEnumerable<string> values)
    {
        foreach (var v in values) Add(v);
    }

    /// <summary>The text with every registered value (and its HTML- and JSON-escaped forms) replaced by <see cref="Mask"/>.</summary>
    public static string Redact(string text)
    {
        var values = _values;
        if (values.IsEmpty || string.IsNullOrEmpty(text)) return text;
        foreach (var v in values)
        {
            if (v.Length < MinimumLength) continue;
            text = Replace(text, v);
            var html = WebUtility.HtmlEncode(v);
            if (html != v) text = Replace(text, html);
            var json = JsonEncodedText.Encode(v).Value;
            if (json != v) text = Replace(text, json);
        }
        return text;
    }

    private static string Replace(string text, string value) =>
        text.Contains(value, StringComparison.Ordinal) ? text.Replace(value, Mask, StringComparison.Ordinal) : text;

    public static string? RedactOrNull(string? text) => text is null ? null : Redact(text);

    /// <summary>A copy of the JSON tree with every string value and property name redacted.</summary>
    public static JsonNode? Redact(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(Redact(kv.Key), Redact(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(Redact).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => JsonValue.Create(RedactWhole(v.GetValue<string>())),
        _ => node.DeepClone(),
    };

    /// <summary>Like <see cref="Redact(string)"/>, and a value that is exactly a secret is masked whatever its length.</summary>
    public static string RedactWhole(string text) => _values.Contains(text) ? Mask : Redact(text);

    /// <summary>A copy of the table whose text cells, column names and caption are redacted (the same table when clean).</summary>
    public static DataTable Redact(DataTable table)
    {
        if (_values.IsEmpty) return table;
        bool Dirty(string? s) => s is not null && RedactWhole(s) != s;
        var dirty = Dirty(table.Name) || Dirty(table.Caption) || table.Columns.Any(c => Dirty(c.Name) || (c is TextColumn t && t.Values.Any(Dirty)));
        if (!dirty) return table;
        var columns = table.Columns.Select(c => c switch
        {
            TextColumn t => new TextColumn(RedactWhole(c.Name), t.Values.Select(v => v is null ? null : RedactWhole(v)).ToArray()),
            _ => c.Rename(RedactWhole(c.Name)),
        });
        return new DataTable(RedactWhole(table.Name), columns) { Source = table.Source, Caption = RedactOrNull(table.Caption) };
    }
}

/// <summary>Reads, masks and removes the <see cref="SecretAttribute"/> options of a bound options object.</summary>
public static class SecretOptions
{
    private const int MaxDepth = 8;

    public static bool IsSecret(PropertyInfo property) => property.GetCustomAttribute<SecretAttribute>() is not null;

    /// <summary>The values held by secret options (nested options, lists and dictionaries included).</summary>
    public static IReadOnlyList<string> ValuesOf(object? options)
    {
        var found = new List<string>();
        Collect(options, secret: false, found, 0);
        return found;
    }

    /// <summary>Canonical JSON of the options with every secret option's value replaced by <see cref="SecretValues.Mask"/> (for the manifest).</summary>
    public static JsonNode? MaskedJson(object? options) => Canonical(options, remove: false);

    /// <summary>Canonical JSON of the options without the secret options (for cache keys: changing an API key keeps the cache).</summary>
    public static string CacheKeyJson(object? options) => Canonical(options, remove: true)?.ToJsonString() ?? "null";

    /// <summary>snake_case names of the secret options at the top level of an options type.</summary>
    public static IEnumerable<string> SecretOptionNames(Type optionsType) =>
        OptionsBinder.BindableProperties(optionsType).Where(kv => IsSecret(kv.Value)).Select(kv => kv.Key);

    private static JsonNode? Canonical(object? options, bool remove)
    {
        var node = options is null ? null : JsonSerializer.SerializeToNode(options, options.GetType());
        Apply(options, node, remove, 0);
        return BiasBench.Host.Runs.ResultCache.CanonicalNode(node);
    }

    private static void Apply(object? value, JsonNode? node, bool remove, int depth)
    {
        if (value is null || node is null || depth > MaxDepth) return;
        switch (node)
        {
            case JsonObject map when value is IDictionary dictionary:
                foreach (DictionaryEntry e in dictionary)
                    if (e.Key.ToString() is { } key && map[key] is { } child) Apply(e.Value, child, remove, depth + 1);
                break;
            case JsonObject obj:
                foreach (var p in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
                {
                    if (p.GetIndexParameters().Length > 0) continue;
                    var name = p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? p.Name;
                    if (!obj.ContainsKey(name)) continue;
                    if (IsSecret(p))
                    {
                        if (remove) obj.Remove(name);
                        else if (obj[name] is not null) obj[name] = SecretValues.Mask;
                    }
                    else Apply(p.GetValue(value), obj[name], remove, depth + 1);
                }
                break;
            case JsonArray array when value is IEnumerable items and not string:
                var i = 0;
                foreach (var item in items)
                {
                    if (i >= array.Count) break;
                    Apply(item, array[i++], remove, depth + 1);
                }
                break;
        }
    }

    private static void Collect(object? value, bool secret, List<string> found, int depth)
    {
        if (value is null || depth > MaxDepth) return;
        switch (value)
        {
            case string s:
                if (secret && s.Length > 0) found.Add(s);
                return;
            case IDictionary dictionary:
                foreach (DictionaryEntry e in dictionary) Collect(e.Value, secret, found, depth + 1);
                return;
            case IEnumerable items:
                foreach (var item in items) Collect(item, secret, found, depth + 1);
                return;
        }
        var type = value.GetType();
        if (type.IsPrimitive || type.IsEnum || value is decimal or DateTime or DateTimeOffset or TimeSpan or Guid or Uri)
        {
            if (secret && value.ToString() is { Length: > 0 } text) found.Add(text);
            return;
        }
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || !p.CanRead) continue;
            Collect(p.GetValue(value), secret || IsSecret(p), found, depth + 1);
        }
    }
}

/// <summary>
/// The environment values substituted into each config scalar, so that a value that lands in a [Secret] option is
/// masked on its own too (e.g. the token of <c>"Bearer ${SERVICE_LOGIN}"</c>), whatever the variable is called.
/// </summary>
internal static class SubstitutedValues
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<YamlDotNet.RepresentationModel.YamlScalarNode, List<string>> Values = new();

    public static void Add(YamlDotNet.RepresentationModel.YamlScalarNode node, string value)
    {
        var list = Values.GetOrCreateValue(node);
        lock (list) list.Add(value);
    }

    /// <summary>Registers every value substituted anywhere under <paramref name="node"/> as a secret.</summary>
    public static void RegisterSecrets(YamlDotNet.RepresentationModel.YamlNode node)
    {
        switch (node)
        {
            case YamlDotNet.RepresentationModel.YamlScalarNode scalar when Values.TryGetValue(scalar, out var list):
                lock (list) SecretValues.AddRange(list);
                break;
            case YamlDotNet.RepresentationModel.YamlSequenceNode seq:
                foreach (var child in seq.Children) RegisterSecrets(child);
                break;
            case YamlDotNet.RepresentationModel.YamlMappingNode map:
                foreach (var child in map.Children.Values) RegisterSecrets(child);
                break;
        }
    }
}
