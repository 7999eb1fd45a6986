using System.Diagnostics;
using BiasBench.TestSupport;
using BiasBench.TestSupport.ApiServers;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// The shipped hosted-model configs run end to end through the real CLI against a local server speaking the APIs'
/// wire formats (--endpoint): a missing key stops the run before any work and says which; --dry-run counts the
/// requests; a second run sends nothing; the key never reaches the run folder or the cache.
/// </summary>
public class HostedModelConfigsTests
{
    private const string OpenAiKey = "sk-e2e-openai-5c1f0a9b3e7d";
    private const string GeminiKey = "gm-e2e-gemini-8e2d4b6a1c0f";

    private static (int Code, string Output) Cli(string dir, IDictionary<string, string?> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { SamplePlugin.HostDll }.Concat(args)) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "250";
        foreach (var name in new[] { "OPENAI_API_KEY", "GEMINI_API_KEY" }) psi.Environment.Remove(name);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException($"biasbench {string.Join(' ', args)} did not finish"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static string Config(string name) => Path.Combine(Fixtures.RepoRoot, "configs", name);

    private static List<string> Runs(string runsDir) =>
        Directory.Exists(runsDir) ? Directory.GetDirectories(runsDir).Where(d => !d.EndsWith(".cache")).Order().ToList() : [];

    private static void AssertNoFileContains(string dir, string secret) =>
        Assert.Empty(Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => File.ReadAllText(f).Contains(secret, StringComparison.Ordinal)));

    [Fact]
    public async Task Vlm_real_fake_config_runs_against_a_local_server_resumes_for_free_and_never_stores_the_key()
    {
        await using var server = await LocalApiServer.StartAsync();
        var dir = TestApp.TempDir();
        var runs = Path.Combine(dir, "runs");
        string[] common = ["run", Config("vlm-real-fake.yaml"), "--endpoint", server.OpenAiBase, "--runs-dir", runs, "--no-progress", "--device", "cpu"];

        var (code, output) = Cli(dir, new Dictionary<string, string?>(), common);
        Assert.True(code == 2, output);
        Assert.Contains("OPENAI_API_KEY", output);
        Assert.Contains("not set", output);
        Assert.Empty(Runs(runs));
        Assert.Equal(0, server.Received.Count);

        (code, output) = Cli(dir, new Dictionary<string, string?>(), [.. common, "--dry-run"]);
        Assert.Equal(0, code);
        Assert.Contains("would send at most 365 request(s)", output);
        Assert.Equal(0, server.Received.Count);

        var withKey = new Dictionary<string, string?> { ["OPENAI_API_KEY"] = OpenAiKey };
        (code, output) = Cli(dir, withKey, common);
        Assert.True(code == 0, output);
        Assert.Equal(365, server.Count(LocalApiServer.Chat));
        Assert.All(server.Received, r => Assert.Equal($"Bearer {OpenAiKey}", r.Authorization));
        var run = Runs(runs).Single();
        var judged = File.ReadAllLines(Path.Combine(run, "tables", "judge-sdxl.csv"));
        Assert.Equal(301, judged.Length);
        Assert.Contains("judged_real", judged[0]);
        Assert.Contains("served_model", judged[0]);
        Assert.True(File.Exists(Path.Combine(run, "tables", "bias-sdxl-judge_logit_coefficients.csv")), string.Join(", ", Directory.GetFiles(Path.Combine(run, "tables"))));
        Assert.Equal(365, Directory.GetFiles(Path.Combine(run, "raw"), "*.json", SearchOption.AllDirectories).Length);

        (code, output) = Cli(dir, withKey, common);
        Assert.True(code == 0, output);
        Assert.Equal(365, server.Count(LocalApiServer.Chat)); // the second run sent nothing
        AssertNoFileContains(dir, OpenAiKey);
    }

    [Fact]
    public async Task Vlm_real_fake_scut_config_judges_every_rated_face_and_regresses_the_verdict_on_the_rating()
    {
        await using var server = await LocalApiServer.StartAsync();
        var dir = TestApp.TempDir();
        var runs = Path.Combine(dir, "runs");
        // A SCUT-FBP5500_v2-style release built from real face photos with deterministic ratings (FaceDataSets).
        var env = FaceDataSets.Build(Path.Combine(dir, "data")).ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        var faces = FaceDataSets.ScutGroups.Length * FaceDataSets.ScutPerGroup;
        string[] common = ["run", Config("vlm-real-fake-scut.yaml"), "--endpoint", server.OpenAiBase, "--runs-dir", runs, "--no-progress", "--device", "cpu"];

        var (code, output) = Cli(dir, new Dictionary<string, string?>(), common);
        Assert.True(code == 2, output);
        Assert.Contains("SCUT-FBP5500 is published at https://github.com/HCIILAB/SCUT-FBP5500-Database-Release", output);
        Assert.Empty(Runs(runs));

        env["OPENAI_API_KEY"] = OpenAiKey;
        (code, output) = Cli(dir, env, common);
        Assert.True(code == 0, output);
        Assert.Equal(faces, server.Count(LocalApiServer.Chat));
        var run = Runs(runs).Single();
        var judged = File.ReadAllLines(Path.Combine(run, "tables", "judge-scut.csv"));
        Assert.Equal(faces + 1, judged.Length);
        var coefficients = File.ReadAllLines(Path.Combine(run, "tables", "bias-scut-judge_logit_coefficients.csv"));
        Assert.Contains(coefficients, line => line.Contains("beauty", StringComparison.Ordinal));
        AssertNoFileContains(dir, OpenAiKey);
    }

    [Fact]
    public async Task Hosted_prompt_beauty_config_generates_scores_and_analyses_against_a_local_server()
    {
        await using var server = await LocalApiServer.StartAsync();
        var dir = TestApp.TempDir();
        var runs = Path.Combine(dir, "runs");
        string[] common = ["run", Config("hosted-prompt-beauty.yaml"), "--endpoint", server.GeminiBase, "--runs-dir", runs, "--no-progress", "--device", "cpu"];
        // The reward models: the tiny fixture models in place of the real weights the config names by default.
        var bpe = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz");
        var pickscore = Directory.CreateDirectory(Path.Combine(dir, "models", "pickscore")).FullName;
        foreach (var file in new[] { "config.json", "model.safetensors" })
            File.CreateSymbolicLink(Path.Combine(pickscore, file), Path.Combine(Fixtures.Path_("clip_hf"), file));
        File.CreateSymbolicLink(Path.Combine(pickscore, "bpe_simple_vocab_16e6.txt.gz"), bpe);
        var rewards = new Dictionary<string, string?>
        {
            ["PICKSCORE_MODEL"] = pickscore, ["HPS_MODEL"] = Fixtures.Path_("open_clip"), ["CLIP_BPE"] = bpe,
            ["AESTHETIC_CLIP_MODEL"] = Fixtures.Path_("clip_quickgelu"), ["AESTHETIC_HEAD"] = Path.Combine(Fixtures.Path_("clip_quickgelu"), "aesthetic_head.pth"),
        };

        var (code, output) = Cli(dir, rewards, common);
        Assert.True(code == 2, output);
        Assert.Contains("GEMINI_API_KEY", output);
        Assert.Empty(Runs(runs));

        (code, output) = Cli(dir, rewards, [.. common, "--dry-run"]);
        Assert.Equal(0, code);
        Assert.Contains("would send at most 30 request(s)", output);

        server.Enqueue(LocalApiServer.Gemini, new Reply(200, """{"promptFeedback":{"blockReason":"SAFETY"}}"""));
        var withKey = new Dictionary<string, string?>(rewards) { ["GEMINI_API_KEY"] = GeminiKey };
        (code, output) = Cli(dir, withKey, common);
        Assert.True(code == 0, output);
        Assert.Equal(30, server.Count(LocalApiServer.Gemini));
        Assert.All(server.Received, r => Assert.Equal(GeminiKey, r.GoogApiKey));
        var run = Runs(runs).Single();
        var faces = File.ReadAllLines(Path.Combine(run, "tables", "faces.csv"));
        Assert.Equal(31, faces.Length);
        Assert.Single(faces, l => l.Contains(",refusal"));
        Assert.True(File.Exists(Path.Combine(run, "tables", "faces-outcomes.csv")));
        Assert.Equal(29, Directory.GetFiles(Path.Combine(run, "images", "faces"), "*.png").Length);
        Assert.Contains("generationConfig.seed", File.ReadAllText(Directory.GetFiles(Path.Combine(run, "images", "faces"), "*.json")[0]));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(run, "tables"), "prompt-effect*.csv"));

        (code, output) = Cli(dir, withKey, common);
        Assert.True(code == 0, output);
        Assert.Equal(30, server.Count(LocalApiServer.Gemini)); // the refusal and the 29 images all came from the caches
        AssertNoFileContains(dir, GeminiKey);
    }
}
