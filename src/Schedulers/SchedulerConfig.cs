using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BiasBench.Schedulers;

/// <summary>
/// The contents of a diffusers <c>scheduler_config.json</c>, as diffusers' <c>from_config</c> sees them: keys listed in
/// <c>_use_default_values</c> are dropped (the target scheduler's own defaults apply), private <c>_</c> keys are kept
/// apart, and every scheduler reads the keys its diffusers <c>__init__</c> takes, ignoring the rest. So one config can
/// build any scheduler (<see cref="SchedulerFactory.Create"/>), exactly as <c>OtherScheduler.from_config(config)</c>.
/// Immutable; <see cref="With(string, object?)"/> returns a changed copy (diffusers' <c>from_config(config, **kwargs)</c>).
/// </summary>
public sealed class SchedulerConfig
{
    private readonly Dictionary<string, JsonElement> values;

    private SchedulerConfig(string source, string? className, Dictionary<string, JsonElement> values)
    {
        Source = source;
        ClassName = className;
        this.values = values;
    }

    /// <summary>Where the config came from (file path or a description); every error message starts with it.</summary>
    public string Source { get; }

    /// <summary>The <c>_class_name</c> the config was saved with (e.g. <c>PNDMScheduler</c>), if any.</summary>
    public string? ClassName { get; }

    /// <summary>The public keys present (private <c>_</c> keys and <c>_use_default_values</c> entries excluded).</summary>
    public IReadOnlyCollection<string> Keys => values.Keys;

    public bool Contains(string key) => values.ContainsKey(key);

    /// <summary>Reads a <c>scheduler_config.json</c>.</summary>
    public static SchedulerConfig FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Scheduler config '{path}' does not exist.", path);
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Parses config JSON. Python's non-standard <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c> literals (diffusers
    /// writes <c>"lambda_min_clipped": -Infinity</c>) are accepted.</summary>
    public static SchedulerConfig FromJson(string json, string source = "scheduler config")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(QuotePythonFloatLiterals(json)); }
        catch (JsonException e)
        {
            throw new SchedulerConfigException(source, null, $"invalid JSON at line {e.LineNumber + 1}: {e.Message}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SchedulerConfigException(source, null, "the config must be a JSON object.");
            var root = doc.RootElement;
            var useDefaults = new HashSet<string>(StringComparer.Ordinal);
            if (root.TryGetProperty("_use_default_values", out var defaults) && defaults.ValueKind == JsonValueKind.Array)
                foreach (var d in defaults.EnumerateArray())
                    if (d.ValueKind == JsonValueKind.String) useDefaults.Add(d.GetString()!);
            string? className = null;
            if (root.TryGetProperty("_class_name", out var cls))
            {
                if (cls.ValueKind != JsonValueKind.String)
                    throw new SchedulerConfigException(source, "_class_name", $"must be a string (got {cls.GetRawText()}).");
                className = cls.GetString();
            }
            var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
                if (!p.Name.StartsWith('_') && !useDefaults.Contains(p.Name)) values[p.Name] = p.Value.Clone();
            return new SchedulerConfig(source, className, values);
        }
    }

    /// <summary>A copy with <paramref name="key"/> set to <paramref name="value"/> (any JSON-serialisable value; null
    /// stores JSON null, which diffusers passes on as <c>None</c>).</summary>
    public SchedulerConfig With(string key, object? value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var copy = new Dictionary<string, JsonElement>(values, StringComparer.Ordinal)
        {
            [key] = value switch
            {
                // JSON has no NaN/Infinity; store them the way Python writes them (read back by the number readers).
                double d when !double.IsFinite(d) => JsonSerializer.SerializeToElement(PythonFloatLiteral(d)),
                float f when !float.IsFinite(f) => JsonSerializer.SerializeToElement(PythonFloatLiteral(f)),
                _ => JsonSerializer.SerializeToElement(value),
            },
        };
        return new SchedulerConfig(Source, ClassName, copy);
    }

    private static string PythonFloatLiteral(double d) =>
        double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";

    /// <summary>A copy with every entry of <paramref name="overrides"/> set.</summary>
    public SchedulerConfig With(IEnumerable<KeyValuePair<string, object?>> overrides)
    {
        var config = this;
        foreach (var (k, v) in overrides) config = config.With(k, v);
        return config;
    }

    /// <summary>A copy without <paramref name="key"/> (the target scheduler's default applies).</summary>
    public SchedulerConfig Without(string key)
    {
        var copy = new Dictionary<string, JsonElement>(values, StringComparer.Ordinal);
        copy.Remove(key);
        return new SchedulerConfig(Source, ClassName, copy);
    }

    /// <summary>The public keys as indented JSON (sorted), e.g. for a run manifest.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            if (ClassName is not null) writer.WriteString("_class_name", ClassName);
            foreach (var key in values.Keys.Order(StringComparer.Ordinal))
            {
                writer.WritePropertyName(key);
                values[key].WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    // ---- typed readers: absent key -> fallback; wrong type -> SchedulerConfigException naming source and field ----

    public int GetInt(string key, int fallback)
    {
        if (!TryGet(key, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt32(out var i)) return i;
            if (v.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
        }
        throw Error(key, $"must be an integer (got {v.GetRawText()}).");
    }

    public double GetDouble(string key, double fallback) => GetNullableDouble(key) ?? fallback;

    /// <summary>A number, or null when the key is absent or JSON null (diffusers' <c>None</c>).</summary>
    public double? GetNullableDouble(string key)
    {
        if (!TryGet(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return ReadNumber(key, v);
    }

    /// <summary>A boolean; JSON null counts as false (diffusers tests these fields for truth).</summary>
    public bool GetBool(string key, bool fallback)
    {
        if (!TryGet(key, out var v)) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw Error(key, $"must be true or false (got {v.GetRawText()})."),
        };
    }

    /// <summary>A string, or <paramref name="fallback"/> when absent or null.</summary>
    public string? GetString(string key, string? fallback)
    {
        if (!TryGet(key, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        throw Error(key, $"must be a string (got {v.GetRawText()}).");
    }

    /// <summary>A string that must be one of <paramref name="supported"/>; anything else is a clear error.</summary>
    public string GetChoice(string key, string fallback, params string[] supported)
    {
        var value = GetString(key, fallback) ?? fallback;
        if (Array.IndexOf(supported, value) < 0)
            throw Error(key, $"'{value}' is not supported (supported: {string.Join(", ", supported)}).");
        return value;
    }

    /// <summary>An array of numbers, or null when absent or null.</summary>
    public double[]? GetDoubleArray(string key)
    {
        if (!TryGet(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array) throw Error(key, $"must be a list of numbers (got {Abbreviate(v)}).");
        return v.EnumerateArray().Select(e => ReadNumber(key, e)).ToArray();
    }

    /// <summary>The raw JSON text of a key (for messages), or null when absent.</summary>
    public string? RawValue(string key) => TryGet(key, out var v) ? v.GetRawText() : null;

    /// <summary>An error about <paramref name="key"/> of this config.</summary>
    public SchedulerConfigException Error(string key, string message) => new(Source, key, message);

    private bool TryGet(string key, out JsonElement value) => values.TryGetValue(key, out value);

    private double ReadNumber(string key, JsonElement v)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d)) return d;
        if (v.ValueKind == JsonValueKind.String)
        {
            switch (v.GetString())
            {
                case "NaN": return double.NaN;
                case "Infinity": return double.PositiveInfinity;
                case "-Infinity": return double.NegativeInfinity;
            }
        }
        throw Error(key, $"must be a number (got {Abbreviate(v)}).");
    }

    private static string Abbreviate(JsonElement v)
    {
        var text = v.GetRawText();
        return text.Length <= 60 ? text : text[..57] + "...";
    }

    /// <summary>Turns Python's bare NaN / Infinity / -Infinity tokens (outside strings) into JSON strings.</summary>
    private static string QuotePythonFloatLiterals(string json)
    {
        if (!json.Contains("Infinity", StringComparison.Ordinal) && !json.Contains("NaN", StringComparison.Ordinal)) return json;
        var sb = new StringBuilder(json.Length + 16);
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var c = json[i];
            if (inString)
            {
                sb.Append(c);
                if (c == '\\' && i + 1 < json.Length) sb.Append(json[++i]);
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"') { inString = true; sb.Append(c); continue; }
            var token = StartsWithToken(json, i, "-Infinity") ?? StartsWithToken(json, i, "Infinity") ?? StartsWithToken(json, i, "NaN");
            if (token is not null)
            {
                sb.Append('"').Append(token).Append('"');
                i += token.Length - 1;
                continue;
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static string? StartsWithToken(string s, int at, string token) =>
        string.CompareOrdinal(s, at, token, 0, token.Length) == 0 ? token : null;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{ClassName ?? "scheduler"} config from {Source}");
}
