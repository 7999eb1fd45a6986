using System.Diagnostics;
using System.Text.Json.Nodes;
using BiasBench.Host.Configuration;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// The scheduler files in deploy/: the Slurm array and merge scripts run for real here with the environment Slurm gives
/// each task (two shards, then the merge, through the built CLI); the Kubernetes manifests are checked to be an Indexed
/// Job whose pods take their shard from the completion index, and a merge Job after it. The shipped rescoring config
/// they run parses (its weights are not here, so it is not run).
/// </summary>
public class DeployScriptsTests
{
    private static string Deploy(params string[] parts) => Path.Combine([SamplePlugin.RepoRoot, "deploy", .. parts]);

    private static (int ExitCode, string Output) Bash(string script, string workingDirectory, IDictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo("bash", [script]) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000)) { p.Kill(true); throw new TimeoutException($"{script} did not finish."); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void The_slurm_array_task_and_merge_scripts_run_a_config_as_shards()
    {
        var dir = TestApp.TempDir();
        var images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        var rng = new Random(3);
        for (var i = 0; i < 12; i++)
        {
            var bytes = new byte[100 + 7 * i];
            rng.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(images, $"img{i:D2}.png"), bytes);
        }
        var config = Path.Combine(dir, "exp.yaml");
        File.WriteAllText(config, """
            experiment: slurm-shards
            stages:
              - id: faces
                kind: data
                plugin: image-folder
                options: { directory: images, prompt: a face }
              - id: scores
                kind: score
                plugin: byte-entropy
              - kind: report
            """);
        var runs = Path.Combine(dir, "runs");
        var env = new Dictionary<string, string>
        {
            ["BIASBENCH"] = $"dotnet {SamplePlugin.HostDll}", ["CONFIG"] = config, ["RUNS_DIR"] = runs, ["DEVICE"] = "cpu",
            ["BIASBENCH_PLUGIN_PATH"] = SamplePlugin.Directory, ["SLURM_ARRAY_JOB_ID"] = "4242", ["SLURM_ARRAY_TASK_COUNT"] = "2",
        };
        for (var k = 0; k < 2; k++)
        {
            var (code, output) = Bash(Deploy("slurm", "biasbench-shards.sbatch"), dir, new Dictionary<string, string>(env) { ["SLURM_ARRAY_TASK_ID"] = $"{k}" });
            Assert.True(code == 0, output);
        }
        var merge = Bash(Deploy("slurm", "biasbench-merge.sbatch"), dir, new Dictionary<string, string>(env) { ["RUN_ID"] = "biasbench-4242" });
        Assert.True(merge.ExitCode == 0, merge.Output);
        var run = Path.Combine(runs, "biasbench-4242");
        Assert.True(Directory.Exists(Path.Combine(run, "shards", "0-of-2")) && Directory.Exists(Path.Combine(run, "shards", "1-of-2")));
        Assert.Equal("completed", JsonNode.Parse(File.ReadAllText(Path.Combine(run, "manifest.json")))!["status"]!.GetValue<string>());
        Assert.Equal(12, File.ReadAllLines(Path.Combine(run, "tables", "scores.csv")).Length - 1);
        Assert.True(File.Exists(Path.Combine(run, "report.md")));
    }

    [Fact]
    public void The_kubernetes_jobs_are_an_indexed_job_of_shards_and_a_merge_after_it()
    {
        YamlMappingNode Load(string file) => (YamlMappingNode)Parse(File.ReadAllText(Deploy("k8s", file))
            .Replace("__RUN_ID__", "r1").Replace("__SHARDS__", "4").Replace("__IMAGE__", "biasbench:test").Replace("__CONFIG__", "/opt/biasbench/deploy/hackathon-rescore.yaml"));
        var shards = Load("shards-job.yaml");
        var spec = (YamlMappingNode)shards["spec"];
        Assert.Equal("Job", shards["kind"].ToString());
        Assert.Equal("Indexed", spec["completionMode"].ToString());
        Assert.Equal("4", spec["completions"].ToString());
        var container = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)spec["template"])["spec"])["containers"])[0];
        var command = string.Join(" ", ((YamlSequenceNode)container["args"]).Select(a => a.ToString()));
        Assert.Contains("--shard \"$JOB_COMPLETION_INDEX/$SHARDS\"", command);
        Assert.Contains("--run-id \"$RUN_ID\"", command);

        var merge = Load("merge-job.yaml");
        var mergeSpec = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)merge["spec"])["template"])["spec"];
        var wait = string.Join(" ", ((YamlSequenceNode)((YamlMappingNode)((YamlSequenceNode)mergeSpec["initContainers"])[0])["args"]).Select(a => a.ToString()));
        Assert.Contains("biasbench-shards-r1", wait);
        var args = ((YamlSequenceNode)((YamlMappingNode)((YamlSequenceNode)mergeSpec["containers"])[0])["args"]).Select(a => a.ToString()).ToList();
        Assert.Equal("merge", args[0]);
        Assert.Contains("r1", args);
        Assert.Equal("biasbench-merge", mergeSpec["serviceAccountName"].ToString());
        Assert.Contains("name: biasbench-merge", File.ReadAllText(Deploy("k8s", "rbac.yaml")));
    }

    [Fact]
    public void The_shipped_rescoring_config_parses_with_its_default_paths()
    {
        var config = ExperimentConfigLoader.Load(Deploy("hackathon-rescore.yaml"));
        Assert.Equal(["pickscore", "hps", "imagereward"], config.Stages.Where(s => s.Kind == StageKind.Score).Select(s => s.Id));
        Assert.All(config.Stages.Where(s => s.Kind == StageKind.Analyze), s => Assert.Single(s.Inputs));
    }

    private static YamlNode Parse(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents[0].RootNode;
    }
}
