using BiasBench.Abstractions;

namespace BiasBench.Hosted.Tests;

/// <summary>Options with short timeouts and backoffs so resilience tests take fractions of a second.</summary>
public sealed class FastOptions : RemoteApiOptions
{
    public FastOptions(string endpoint)
    {
        Endpoint = endpoint; Model = "local-vlm"; ApiKeyEnv = "BB_TEST_KEY";
        RetryBaseDelayMs = 10; MaxRetryDelaySeconds = 2; AttemptTimeoutSeconds = 10; TotalTimeoutSeconds = 30; MaxRetries = 3;
    }

    protected override string? DefaultEndpoint => null;
}

public static class Env
{
    public const string Key = "sk-test-4b1d9e0c7a2f4e8d";

    public static Func<string, string?> WithKey => name => name == "BB_TEST_KEY" ? Key : null;

    public static (RunEnvironment Env, string Dir) Run()
    {
        var dir = Path.Combine(Path.GetTempPath(), "biasbench-tests", "hosted-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        return (new RunEnvironment("cpu", Path.Combine(dir, "run"), dir, Path.Combine(dir, "cache"), 0), dir);
    }

    /// <summary>Every file under <paramref name="dir"/> that contains <paramref name="needle"/>.</summary>
    public static List<string> FilesContaining(string dir, string needle) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => File.ReadAllText(f).Contains(needle, StringComparison.Ordinal)).ToList();
}
