using System.Text.Json;
using BiasBench.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.Support;

internal static class Expect
{
    /// <summary>The fixture's tolerance: 1e-6 relative; p-values 1e-6 absolute or relative, whichever is looser.</summary>
    public static void Close(double expected, double actual, string what, bool isPValue = false)
    {
        var tolerance = 1e-6 * Math.Abs(expected);
        if (isPValue) tolerance = Math.Max(tolerance, 1e-6);
        Assert.True(Math.Abs(expected - actual) <= Math.Max(tolerance, 1e-12),
            $"{what}: expected {expected:R}, got {actual:R} (diff {Math.Abs(expected - actual):E3})");
    }

    public static int Row(DataTable table, params (string Column, string Value)[] keys)
    {
        for (var r = 0; r < table.RowCount; r++)
            if (keys.All(k => table.Text(k.Column)[r] == k.Value)) return r;
        Assert.Fail($"No row in '{table.Name}' with {string.Join(", ", keys.Select(k => $"{k.Column}={k.Value}"))}.");
        return -1;
    }

    public static double Num(DataTable table, string column, int row) => table.Numeric(column)[row];

    public static IEnumerable<JsonProperty> Objects(JsonElement e) => e.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object);
}
