using System.Text.Json;
using BiasBench.Abstractions;

namespace BiasBench.Data;

/// <summary>
/// A JSON array of flat objects (e.g. the hackathon's <c>result_sdxl.json</c>: <c>[{"id": "0_attractive.jpg",
/// "attractive": 2, "gender": 0, "age": 24.2}, ...]</c>) as a table: a column per key, numeric when every present value
/// is a number (or boolean, as 0/1), otherwise text; a key missing from an object is a missing value.
/// </summary>
public static class JsonRecords
{
    public static DataTable Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new DataFormatException(path, (int)(e.LineNumber ?? 0) + 1, (int)(e.BytePositionInLine ?? 0) + 1, $"not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new DataFormatException(path, 1, 1, "expected a JSON array of objects (one per image).");
            var rows = doc.RootElement.EnumerateArray().ToList();
            var keys = new List<string>();
            for (var r = 0; r < rows.Count; r++)
            {
                if (rows[r].ValueKind != JsonValueKind.Object)
                    throw new DataFormatException(path, 1, 1, $"element {r} of the array is {rows[r].ValueKind}, not an object.");
                foreach (var p in rows[r].EnumerateObject())
                {
                    if (p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                        throw new DataFormatException(path, 1, 1, $"element {r}: '{p.Name}' is nested ({p.Value.ValueKind}); only flat records are supported.");
                    if (!keys.Contains(p.Name)) keys.Add(p.Name);
                }
            }
            var table = new DataTable(Path.GetFileNameWithoutExtension(path)) { Source = path, Caption = $"{rows.Count} records from {path}" };
            foreach (var key in keys)
            {
                var values = rows.Select(r => r.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? (JsonElement?)v : null).ToList();
                if (values.All(v => v is null || v.Value.ValueKind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False))
                    table.Add(key, values.Select(v => v is null ? double.NaN : v.Value.ValueKind switch
                    {
                        JsonValueKind.True => 1.0,
                        JsonValueKind.False => 0.0,
                        _ => v.Value.GetDouble(),
                    }).ToArray());
                else
                    table.Add(key, values.Select(v => v is null ? null : v.Value.ValueKind == JsonValueKind.String ? v.Value.GetString() : v.Value.GetRawText()).ToArray());
            }
            return table;
        }
    }
}
