using System.Globalization;
using BiasBench.Abstractions;

namespace BiasBench.Plugins.Analyses.Tests.Support;

/// <summary>A minimal numeric CSV reader for the statistics fixture inputs (no quoting in those files).</summary>
internal static class SmallCsv
{
    public static DataTable ReadNumeric(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        var header = lines[0].Split(',');
        var columns = header.Select(_ => new double[lines.Length - 1]).ToArray();
        for (var r = 1; r < lines.Length; r++)
        {
            var f = lines[r].Split(',');
            for (var c = 0; c < header.Length; c++)
                columns[c][r - 1] = double.Parse(f[c], NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        var t = new DataTable(Path.GetFileNameWithoutExtension(path)) { Source = path };
        for (var c = 0; c < header.Length; c++) t.Add(header[c], columns[c]);
        return t;
    }
}
