using System.Text.Json;
using Xunit;

namespace BiasBench.TestSupport;

/// <summary>
/// Locates the reference fixtures. The root comes from BIASBENCH_FIXTURES (CI points it at ../shared/fixtures;
/// other fixture sets use the same layout), else ../shared/fixtures beside the repository.
/// With BIASBENCH_REQUIRE_FIXTURES=1 a missing fixture fails the test; otherwise the test is skipped.
/// </summary>
public static class Fixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static bool Required => Environment.GetEnvironmentVariable("BIASBENCH_REQUIRE_FIXTURES") == "1";

    public static string? Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("BIASBENCH_FIXTURES");
            if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env, RepoRoot);
            var beside = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures"));
            return Directory.Exists(beside) ? beside : null;
        }
    }

    /// <summary>The shared real-data folder (../shared/data or BIASBENCH_DATA).</summary>
    public static string? DataRoot
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("BIASBENCH_DATA");
            if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env, RepoRoot);
            var root = Root;
            var candidates = new List<string>();
            if (root is not null) candidates.Add(Path.GetFullPath(Path.Combine(root, "..", "data")));
            candidates.Add(Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data")));
            return candidates.FirstOrDefault(Directory.Exists);
        }
    }

    /// <summary>Path of a fixture file or folder (relative to the fixture root); skips or fails when absent.</summary>
    public static string Path_(string relative) => Require(Root, relative, "BIASBENCH_FIXTURES");

    /// <summary>Path under the shared data folder; skips or fails when absent.</summary>
    public static string Data(string relative) => Require(DataRoot, relative, "BIASBENCH_DATA");

    public static string File(string relative) => Path_(relative);

    public static JsonDocument Json(string relative) => JsonDocument.Parse(System.IO.File.ReadAllText(File(relative)));

    private static string Require(string? root, string relative, string variable)
    {
        var full = root is null ? null : Path.Combine(root, relative);
        if (full is not null && (System.IO.File.Exists(full) || Directory.Exists(full))) return full;
        Missing($"Fixture '{relative}' not found (root: {root ?? "<none>"}; set {variable}).");
        return null!;
    }

    /// <summary>
    /// A test cannot run because the fixture set lacks something it needs: fails under BIASBENCH_REQUIRE_FIXTURES=1
    /// (CI must never pass a parity test silently), skips otherwise. Every test-side skip goes through here.
    /// </summary>
    public static void Missing(string message) => Missing(message, Required);

    /// <inheritdoc cref="Missing(string)"/>
    public static void Missing(string message, bool required)
    {
        if (required) Assert.Fail(message + " (BIASBENCH_REQUIRE_FIXTURES=1: a missing fixture fails the test)");
        Assert.Skip(message);
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "BiasBench.sln"))) dir = dir.Parent;
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}
