using System.Text;

namespace BiasBench.Data.Tests;

/// <summary>A per-test temporary folder for small inline files, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => System.IO.Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "biasbench-data-tests-" + Guid.NewGuid().ToString("N"));

    /// <summary>Writes exactly the given text as UTF-8 (no BOM unless <paramref name="bom"/>), line endings untouched.</summary>
    public string File(string name, string content, bool bom = false)
    {
        var p = System.IO.Path.Combine(Path, name);
        var bytes = Encoding.UTF8.GetBytes(content);
        System.IO.File.WriteAllBytes(p, bom ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes);
        return p;
    }

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

internal static class Check
{
    /// <summary>Compares text columns (nullable strings) element by element.</summary>
    public static void Texts(IEnumerable<string?> expected, IEnumerable<string?> actual) => Assert.Equal(expected, actual);
}
