using System.Globalization;
using System.Text.Json;

namespace BiasBench.Networks.Diffusion;

/// <summary>
/// Reads a diffusers <c>config.json</c> (what <c>save_pretrained</c> writes): absent or null keys take the class's
/// defaults, wrong types are reported with the file and key. Keys diffusers adds for itself (<c>_class_name</c>,
/// <c>_diffusers_version</c>, ...) are ignored.
/// </summary>
public sealed class DiffusersConfigReader : IDisposable
{
    private readonly JsonDocument _document;

    private DiffusersConfigReader(string path, JsonDocument document)
    {
        Path = path;
        _document = document;
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: a diffusers config must be a JSON object.");
    }

    public string Path { get; }

    private JsonElement Root => _document.RootElement;

    public static DiffusersConfigReader Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Diffusers config '{path}' does not exist.", path);
        try { return new DiffusersConfigReader(path, JsonDocument.Parse(File.ReadAllText(path))); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
    }

    /// <summary>The <c>_class_name</c> diffusers recorded, if any.</summary>
    public string? ClassName => Has("_class_name", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>Throws when the config says it is another class than <paramref name="expected"/>.</summary>
    public void ExpectClass(params string[] expected)
    {
        if (ClassName is { } name && !expected.Contains(name, StringComparer.Ordinal))
            throw new InvalidDataException($"{Path}: _class_name is '{name}', expected {string.Join(" or ", expected.Select(e => $"'{e}'"))}.");
    }

    public bool IsSet(string key) => Has(key, out _);

    /// <summary>True when the key is written in the file, even as null (diffusers then passes None, which can differ
    /// from the class default, e.g. <c>attention_head_dim: null</c>).</summary>
    public bool IsPresent(string key) => Root.TryGetProperty(key, out _);

    /// <summary>The default when the key is absent, null when it is written as null, else its value.</summary>
    public int? IntOrNull(string key, int? fallbackWhenAbsent) => IsPresent(key) ? NullableInt(key) : fallbackWhenAbsent;

    /// <summary>The default when the key is absent, null when it is written as null, else its value.</summary>
    public string? StringOrNull(string key, string? fallbackWhenAbsent) => IsPresent(key) ? String(key, null) : fallbackWhenAbsent;

    public int Int(string key, int fallback) => Has(key, out var v) ? ToInt(v, key) : fallback;

    public int? NullableInt(string key) => Has(key, out var v) ? ToInt(v, key) : null;

    public double Double(string key, double fallback)
    {
        if (!Has(key, out var v)) return fallback;
        return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Bad(key, "a number", v);
    }

    public double? NullableDouble(string key) => Has(key, out _) ? Double(key, 0) : null;

    public bool Bool(string key, bool fallback)
    {
        if (!Has(key, out var v)) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad(key, "true or false", v),
        };
    }

    public string? String(string key, string? fallback)
    {
        if (!Has(key, out var v)) return fallback;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(key, "a string", v);
    }

    public IReadOnlyList<string> Strings(string key, IReadOnlyList<string> fallback)
    {
        if (!Has(key, out var v)) return fallback;
        if (v.ValueKind != JsonValueKind.Array) throw Bad(key, "a list of strings", v);
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad(key, "a list of strings", v)).ToList();
    }

    public IReadOnlyList<int> Ints(string key, IReadOnlyList<int> fallback)
    {
        if (!Has(key, out var v)) return fallback;
        if (v.ValueKind != JsonValueKind.Array) throw Bad(key, "a list of integers", v);
        return v.EnumerateArray().Select(e => ToInt(e, key)).ToList();
    }

    /// <summary>An integer or a list of integers (one per block), e.g. <c>attention_head_dim</c>: null entries stay null.</summary>
    public IReadOnlyList<int?>? IntOrInts(string key, int count)
    {
        if (!Has(key, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number) return Enumerable.Repeat<int?>(ToInt(v, key), count).ToList();
        if (v.ValueKind != JsonValueKind.Array) throw Bad(key, "an integer or a list of integers", v);
        var list = v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (int?)null : ToInt(e, key)).ToList();
        if (list.Count != count) throw new InvalidDataException($"{Path}: '{key}' has {list.Count} entries, expected one per block ({count}).");
        return list;
    }

    /// <summary>Throws <see cref="NotSupportedException"/> when <paramref name="key"/> is set to anything but null
    /// or one of <paramref name="allowed"/>.</summary>
    public void RejectUnless(string key, params object?[] allowed)
    {
        if (!Has(key, out var v)) return;
        var text = v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText();
        foreach (var a in allowed)
        {
            var allowedText = a switch
            {
                null => "null",
                bool b => b ? "true" : "false",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => a.ToString(),
            };
            if (string.Equals(text, allowedText, StringComparison.Ordinal)) return;
        }
        throw new NotSupportedException($"{Path}: '{key}' = {v.GetRawText()} is not supported (supported: {string.Join(", ", allowed.Select(a => a?.ToString() ?? "null"))}).");
    }

    private bool Has(string key, out JsonElement value) =>
        Root.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;

    private int ToInt(JsonElement v, string key)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i)) return i;
        // Some configs store whole numbers as floats (e.g. 1.0).
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        throw Bad(key, "an integer", v);
    }

    private InvalidDataException Bad(string key, string expected, JsonElement v) =>
        new($"{Path}: '{key}' must be {expected}, got {v.GetRawText()}.");

    public void Dispose() => _document.Dispose();
}
