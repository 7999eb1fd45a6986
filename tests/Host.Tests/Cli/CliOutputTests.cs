using System.Diagnostics;
using BiasBench.Abstractions;
using BiasBench.Hub;
using BiasBench.TestSupport;
using BiasBench.Torch.Backend;

namespace BiasBench.Host.Tests.Cli;

/// <summary>The real CLI process, with its output piped as in CI or `biasbench ... > log.txt`.</summary>
public class CliOutputTests
{
    private static (int ExitCode, string Output) Biasbench(string workingDirectory, IDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(SamplePlugin.HostDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException($"biasbench {string.Join(" ", args)} did not finish."); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void Piped_output_is_not_wrapped_at_80_columns()
    {
        var dir = TestApp.TempDir();
        var missing = Path.Combine(dir, "a-rather-long-folder-name-so-that-the-message-is-wider-than-a-terminal", "sdxl_scores.csv");
        var config = Path.Combine(dir, "wide.yaml");
        File.WriteAllText(config, $$"""
            experiment: wide
            stages:
              - id: scores
                kind: data
                plugin: hackathon-scores
                options: { path: "{{missing}}" }
            """);
        var (code, output) = Biasbench(dir, null, "validate", config);
        Assert.Equal(2, code);
        var line = output.Split('\n').SingleOrDefault(l => l.Contains("does not exist", StringComparison.Ordinal));
        Assert.True(line is not null, output);
        Assert.True(line.Length > 120, line);
        Assert.Contains(missing, line); // the whole path on the problem's one line
        Assert.Contains($"{config}:6:", line);
    }

    [Fact]
    public void Asking_for_cuda_shows_why_cuda_failed_to_initialise()
    {
        // A libtorch folder whose CUDA library is broken: the CPU libraries are the real ones, libtorch_cuda.so is not an ELF file.
        var real = TorchBackend.EnsureInitialized().LibTorchDirectory;
        var dir = TestApp.TempDir();
        var libtorch = Path.Combine(dir, "libtorch");
        Directory.CreateDirectory(libtorch);
        foreach (var file in Directory.GetFiles(real))
            if (!Path.GetFileName(file).Contains("cuda", StringComparison.Ordinal))
                File.CreateSymbolicLink(Path.Combine(libtorch, Path.GetFileName(file)), file);
        File.WriteAllText(Path.Combine(libtorch, "libtorch_cuda.so"), "not a shared library");

        var (code, output) = Biasbench(dir, new Dictionary<string, string> { [TorchBackend.LibTorchDirVariable] = libtorch },
            "run", Path.Combine(Fixtures.RepoRoot, "configs", "quickstart.yaml"), "--device", "cuda", "--runs-dir", Path.Combine(dir, "runs"), "--no-progress");
        Assert.Equal(1, code);
        Assert.Contains("CUDA is not available: libtorch_cuda.so could not be loaded", output);
        Assert.DoesNotContain("   at ", output); // no stack trace
        var run = Directory.GetDirectories(Path.Combine(dir, "runs")).Single(d => !d.EndsWith(".cache", StringComparison.Ordinal));
        Assert.Contains("libtorch_cuda.so could not be loaded", File.ReadAllText(Path.Combine(run, "run.log")));
    }

    [Fact]
    public async Task Every_built_in_reward_model_with_fixed_weights_can_be_downloaded_by_name()
    {
        await using var app = await TestApp.StartAsync(Path.Combine(TestApp.TempDir(), "runs"));
        var rewards = app.Catalog.Components.Where(c => c.Descriptor.Kind == ComponentKind.RewardModel && c.Plugin.BuiltIn)
            .Select(c => c.Descriptor.Name).Where(n => n != "onnx-reward") // onnx-reward takes any exported model
            .ToList();
        Assert.Contains("laion-aesthetic-v2", rewards);
        Assert.All(rewards, name => Assert.True(ModelCatalog.Find(name) is not null, $"'{name}' is not in `biasbench models list`"));
    }
}
