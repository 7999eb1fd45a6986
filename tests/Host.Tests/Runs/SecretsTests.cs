using System.Text;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// A secret in a plugin option (written in the config) and one from an environment variable whose name says nothing
/// secret, given to a plugin that echoes them into notes, errors, exceptions and log lines: no file the run writes
/// (run folder and cache) and no console line contains either value, and changing only the key keeps the cache.
/// </summary>
public class SecretsTests
{
    private static string Config(string dir, string apiKey, string variable) =>
        Write(dir, $$"""
            experiment: secrets
            stages:
              - id: images
                kind: data
                plugin: memory-images
                options: { count: 6, special: [ok, bad one, fine, boom, another] }
              - id: scores
                kind: score
                plugin: secret-reward
                options:
                  api_key: "{{apiKey}}"
                  service_credential: "Bearer ${{{variable}}}"
              - kind: report
            """);

    private static string Write(string dir, string yaml)
    {
        var path = Path.Combine(dir, "secrets.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task No_file_the_run_writes_and_no_console_line_holds_a_secret_and_the_key_is_not_in_the_cache_key()
    {
        var dir = TestApp.TempDir();
        var apiKey = "sk-live-" + Guid.NewGuid().ToString("N");
        var credential = "cred-" + Guid.NewGuid().ToString("N");
        // The variable's name does not look secret (no KEY/TOKEN/SECRET/PASS): only the [Secret] option marks it.
        var variable = "BB_SVC_LOGIN_" + Guid.NewGuid().ToString("N")[..8];
        Environment.SetEnvironmentVariable(variable, credential);
        try
        {
            var console = new StringWriter();
            await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"), console: console);
            var config = ExperimentConfigLoader.Load(Config(dir, apiKey, variable));
            var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
            var scores = outputs.Single(o => o.Stage.Id == "scores");
            Assert.Equal(2, scores.ItemsFailed);   // the plugin did echo the secrets: into an error and an exception
            Assert.Equal(4, scores.ItemsComputed);

            var written = Directory.GetFiles(Path.Combine(dir, "runs"), "*", SearchOption.AllDirectories);
            Assert.Contains(written, f => f.EndsWith("manifest.json", StringComparison.Ordinal));
            Assert.Contains(written, f => f.EndsWith("run.log", StringComparison.Ordinal));
            Assert.Contains(written, f => f.EndsWith(".jsonl", StringComparison.Ordinal)); // the cache
            Assert.Contains(written, f => f.EndsWith(".parquet", StringComparison.Ordinal));
            foreach (var file in written)
            {
                var bytes = File.ReadAllBytes(file);
                foreach (var secret in new[] { apiKey, credential })
                    Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0, $"{file} contains a secret");
            }
            foreach (var secret in new[] { apiKey, credential }) Assert.DoesNotContain(secret, console.ToString());

            // The host still says what was configured, masked, and what happened.
            var manifest = JsonNode.Parse(File.ReadAllText(store.ManifestFile))!;
            var options = manifest["components"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "secret-reward")!["options"]!;
            Assert.Equal(SecretValues.Mask, options["ApiKey"]!.GetValue<string>());
            Assert.Equal(SecretValues.Mask, options["ServiceCredential"]!.GetValue<string>());
            Assert.Equal("https://api.example.invalid/v1", options["Endpoint"]!.GetValue<string>());
            Assert.Contains("api_key: \"***\"", manifest["resolved_config"]!.GetValue<string>());
            Assert.Contains("service_credential: \"***\"", manifest["resolved_config"]!.GetValue<string>()); // "Bearer <credential>" as a whole
            Assert.Contains("rejected credential ***", File.ReadAllText(Path.Combine(store.TablesDirectory, "scores-long.csv")));
            Assert.Contains("calling https://api.example.invalid/v1 with key *** and credential ***", File.ReadAllText(store.LogFile));
            Assert.Contains("token ***", File.ReadAllText(store.LogFile)); // the variable's value alone, out of "Bearer ..." 

            // Changing only the key keeps every cached score: the secret is not part of any cache key.
            var otherKey = "sk-live-" + Guid.NewGuid().ToString("N");
            var again = ExperimentConfigLoader.Load(Config(dir, otherKey, variable));
            var (_, second) = await app.RunAsync(again, app.Plan(again), false, CancellationToken.None);
            var rerun = second.Single(o => o.Stage.Id == "scores");
            Assert.Equal((0, 4, 2), (rerun.ItemsComputed, rerun.ItemsFromCache, rerun.ItemsFailed));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    private sealed class Nested
    {
        [Secret] public string? Token { get; set; }
        public string? Name { get; set; }
    }

    private sealed class Options
    {
        [Secret] public string? ApiKey { get; set; }
        [Secret] public int Pin { get; set; }
        public List<Nested> Accounts { get; set; } = [];
        public double Scale { get; set; } = 2;
    }

    [Fact]
    public void Secret_options_are_masked_for_the_manifest_and_left_out_of_cache_keys_at_any_depth()
    {
        var o = new Options { ApiKey = "key-1234", Pin = 4321, Accounts = [new Nested { Token = "tok-5678", Name = "a" }] };
        Assert.Equal(["4321", "key-1234", "tok-5678"], SecretOptions.ValuesOf(o).Order(StringComparer.Ordinal).ToArray());
        var masked = SecretOptions.MaskedJson(o)!.ToJsonString();
        Assert.DoesNotContain("key-1234", masked);
        Assert.DoesNotContain("tok-5678", masked);
        Assert.DoesNotContain("4321", masked);
        Assert.Contains("\"Name\":\"a\"", masked);
        var key = SecretOptions.CacheKeyJson(o);
        Assert.DoesNotContain("ApiKey", key);
        Assert.DoesNotContain("Token", key);
        Assert.Equal(key, SecretOptions.CacheKeyJson(new Options { ApiKey = "other", Pin = 1, Accounts = [new Nested { Token = "x", Name = "a" }] }));
        Assert.NotEqual(key, SecretOptions.CacheKeyJson(new Options { ApiKey = "other", Accounts = [new Nested { Name = "b" }] }));
    }

    [Fact]
    public void Binding_errors_never_echo_a_secret_value()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader("api_key: fine\npin: sk-not-a-number-0987\n"));
        var problems = new List<ConfigProblem>();
        OptionsBinder.Bind(typeof(Options), (YamlMappingNode)stream.Documents[0].RootNode, "f.yaml", problems);
        var problem = Assert.Single(problems);
        Assert.Contains("option 'pin' must be an integer", problem.Message);
        Assert.DoesNotContain("sk-not-a-number-0987", problem.ToString());
    }

    [Fact]
    public async Task A_secret_option_cannot_be_swept()
    {
        var dir = TestApp.TempDir();
        var config = ExperimentConfigLoader.Load(Write(dir, """
            experiment: sweep-secret
            stages:
              - kind: data
                plugin: memory-images
              - id: scores
                kind: score
                plugin: secret-reward
                sweep: { api_key: [first-key-1, second-key-2] }
            """));
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var e = Assert.Throws<ConfigException>(() => app.Plan(config));
        var problem = Assert.Single(e.Problems);
        Assert.Contains("stage 'scores', reward model 'secret-reward': option 'api_key' is a secret and cannot be swept", problem.Message);
    }
}
