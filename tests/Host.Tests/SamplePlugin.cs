using System.Diagnostics;

namespace BiasBench.Host.Tests;

/// <summary>
/// Builds the sample third-party plugin (samples/ThirdPartyPlugin, outside plugins/) into a temporary plugin
/// folder once per test run, exactly as a researcher would build theirs.
/// </summary>
public static class SamplePlugin
{
    private static readonly Lazy<string> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The plugin directory containing BiasBench.Samples.EntropyReward/.</summary>
    public static string Directory => Built.Value;

    public static string RepoRoot => BiasBench.TestSupport.Fixtures.RepoRoot;

    private static string Build()
    {
        var root = Path.Combine(Path.GetTempPath(), "biasbench-tests", "sample-plugin-" + Guid.NewGuid().ToString("N")[..8]);
        var output = Path.Combine(root, "BiasBench.Samples.EntropyReward");
        var project = Path.Combine(RepoRoot, "samples", "ThirdPartyPlugin", "BiasBench.Samples.EntropyReward.csproj");
        var (code, log) = Run("dotnet", $"build \"{project}\" -c Release -o \"{output}\" -nologo -v q", RepoRoot, TimeSpan.FromMinutes(5));
        if (code != 0) throw new InvalidOperationException($"Building the sample plugin failed ({code}):\n{log}");
        return root;
    }

    public static (int ExitCode, string Output) Run(string file, string args, string workingDirectory, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file, args) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout)) { p.Kill(true); throw new TimeoutException($"{file} {args} did not finish in {timeout}."); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The built host (biasbench.dll) next to this test assembly's configuration.</summary>
    public static string HostDll
    {
        get
        {
            var config = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Parent!.Name; // bin/<Configuration>/net10.0/
            var dll = Path.Combine(RepoRoot, "src", "Host", "bin", config, "net10.0", "biasbench.dll");
            return File.Exists(dll) ? dll : Path.Combine(AppContext.BaseDirectory, "biasbench.dll");
        }
    }
}
