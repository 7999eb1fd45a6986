using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BiasBench.Host.Configuration;
using BiasBench.TestSupport;
using Json.Schema;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Tests.Configuration;

/// <summary>Config mistakes a new user makes: each gets file:line:column, all at once, each once, never a stack trace.</summary>
public class NewUserConfigTests
{
    private const string File_ = "/cfg/exp.yaml";

    private static ConfigException Malformed(string yaml) => Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Parse(yaml, File_, _ => null));

    [Fact]
    public void An_unclosed_flow_mapping_followed_by_another_list_item_points_at_the_open_brace()
    {
        var e = Malformed("""
            experiment: x
            stages:
              - kind: data
                plugin: memory-images
                options: { count: 3
              - kind: score
                plugin: length-reward
            """);
        var p = Assert.Single(e.Problems);
        Assert.Equal((File_, 5, 14), (p.Location.File, p.Location.Line, p.Location.Column));
        Assert.Contains("flow mapping '{' opened here is not closed", p.Message);
        Assert.DoesNotContain("current state of the object", p.Message);
    }

    [Fact]
    public void A_list_used_as_a_key_is_a_located_problem_not_a_crash()
    {
        var e = Malformed("experiment: x\n[a, b]: 1\nstages:\n  - kind: report\n    {c: d}: 2\n");
        Assert.Contains(e.Problems, p => p.Location.Line == 2 && p.Location.Column == 1 && p.Message.Contains("a key must be a plain name, not a list"));
        Assert.Contains(e.Problems, p => p.Location.Line == 5 && p.Message.Contains("not a mapping"));
    }

    public static TheoryData<string, int> MalformedInputs() => new()
    {
        { "experiment: x\nstages:\n  - kind: data\n    plugin: [a, b\n  - kind: score\n", 4 },
        { "experiment: x\nstages:\n  - {kind: data\n  - kind: score\n", 3 },
        { "experiment: x\n  bad: indent\n", 2 },
        { "experiment: 'unterminated\nstages: []\n", 1 },
        { "experiment: x\nexperiment: y\nstages: []\n", 2 },
        { "experiment: *nowhere\n", 1 },
        { "experiment: x\nstages: [\n", 3 },
        { "- a\nb: c\n", 2 },
        { "experiment: x\n\tstages: []\n", 1 },
        { "{a: 1}}\n", 1 },
    };

    [Theory]
    [MemberData(nameof(MalformedInputs))]
    public void Malformed_yaml_gets_a_location(string yaml, int line)
    {
        var e = Malformed(yaml);
        Assert.Contains(e.Problems, p => p.Location.Line == line && p.Location.Column >= 1 && p.Message.StartsWith("malformed YAML", StringComparison.Ordinal));
    }

    /// <summary>
    /// Fuzz: a valid config with one character inserted or deleted at every position (brackets, quotes, colons, tabs,
    /// dashes...). Each variant either parses or fails with located problems; nothing else escapes.
    /// </summary>
    [Fact]
    public void Fuzzed_configs_parse_or_fail_with_locations()
    {
        var valid = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "configs", "prompt-beauty-bias.yaml"));
        var rng = new Random(8);
        char[] inserts = ['{', '}', '[', ']', ':', '"', '\'', '\t', '-', '&', '*', '!', '|', '>', '#', ',', '?', '%', '@', '\n'];
        var failures = new List<string>();
        var located = 0;
        for (var i = 0; i < 400; i++)
        {
            var at = rng.Next(valid.Length);
            var variant = i % 3 == 0 ? valid.Remove(at, 1) : valid.Insert(at, inserts[rng.Next(inserts.Length)].ToString());
            try
            {
                ExperimentConfigLoader.Parse(variant, File_, _ => null);
            }
            catch (ConfigException e)
            {
                if (e.Problems.Count == 0 || e.Problems.Any(p => p.Location.Line < 1 || p.Location.Column < 1))
                    failures.Add($"variant {i}: problem without a location: {e.Message}");
                else located++;
            }
            catch (Exception e)
            {
                failures.Add($"variant {i} (offset {at}): {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
        Assert.True(located > 50, $"only {located} variants were malformed");
    }

    [Fact]
    public async Task Every_problem_is_reported_in_one_pass_each_once_naming_stage_and_plugin()
    {
        var dir = TestApp.TempDir();
        var path = Path.Combine(dir, "exp.yaml");
        File.WriteAllText(path, """
            experiment: all-at-once
            sede: 3
            stages:
              - id: images
                kind: data
                plugin: memory-images
                options: { cuont: 3, count: many }
              - id: scores
                kind: score
                plugin: length-reward
                sweep: { scale: [1, 2, 3] }
                options: { scael: 2 }
            """);
        var loaded = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(path));
        Assert.NotNull(loaded.Partial);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var e = Assert.Throws<ConfigException>(() => app.Plan(loaded.Partial!, loaded.Problems));
        var messages = e.Problems.Select(p => p.ToString()).ToList();
        Assert.Contains(messages, m => m.Contains(":2:1: unknown key 'sede'") && m.Contains("did you mean 'seed'"));
        Assert.Contains(messages, m => m.Contains(":7:") && m.Contains("stage 'images', dataset 'memory-images': unknown option 'cuont'") && m.Contains("did you mean 'count'"));
        Assert.Contains(messages, m => m.Contains(":7:") && m.Contains("stage 'images', dataset 'memory-images': option 'count' must be an integer, got 'many'"));
        // Three sweep instances share the misspelt option: reported once.
        Assert.Single(messages, m => m.Contains("stage 'scores', reward model 'length-reward': unknown option 'scael'") && m.Contains("did you mean 'scale'"));
        Assert.Equal(4, messages.Count);
        Assert.Equal(messages.Count, messages.Distinct().Count());
    }

    [Fact]
    public async Task The_schema_does_not_require_options_with_defaults_and_every_shipped_config_validates_against_it()
    {
        await using var app = await TestApp.StartAsync(Path.Combine(TestApp.TempDir(), "runs"));
        var schemaJson = SchemaGenerator.Generate(app.Catalog).ToJsonString();
        var schema = JsonSchema.FromText(schemaJson);
        var attributeBias = SchemaGenerator.OptionsSchema(app.Catalog.Find(BiasBench.Abstractions.ComponentKind.Analysis, "attribute-bias")!.Descriptor.OptionsType);
        Assert.NotNull(attributeBias["properties"]?["id_column"]);
        Assert.DoesNotContain("id_column", attributeBias["required"]?.AsArray().Select(n => n!.GetValue<string>()) ?? []);
        var configs = Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "configs"), "*.yaml").Order().ToList();
        Assert.NotEmpty(configs);
        foreach (var file in configs.Append(ReadmeExample.WriteTo(TestApp.TempDir())))
        {
            var instance = YamlToJson(File.ReadAllText(file));
            var result = schema.Evaluate(System.Text.Json.JsonDocument.Parse(instance!.ToJsonString()).RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            var errors = result.Details.Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(kv => $"{d.InstanceLocation}: {kv.Key}: {kv.Value}"));
            Assert.True(result.IsValid, $"{Path.GetFileName(file)} does not validate against the schema:\n{string.Join("\n", errors.Take(20))}");
        }
        // The schema does reject what validate rejects (it is not vacuous).
        var bad = YamlToJson("experiment: x\nstages:\n  - kind: analyze\n    plugin: attribute-bias\n    options: { confidance: 0.9 }\n");
        Assert.False(schema.Evaluate(System.Text.Json.JsonDocument.Parse(bad!.ToJsonString()).RootElement).IsValid);
    }

    [Fact]
    public async Task The_readme_experiment_example_validates_and_runs_as_written()
    {
        var dir = TestApp.TempDir();
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        // Parsed as if it sat in configs/ (its relative paths are written for that folder).
        var config = ExperimentConfigLoader.Parse(ReadmeExample.Text(), Path.Combine(Fixtures.RepoRoot, "configs", "readme-example.yaml"), _ => null);
        var plan = app.Plan(config);
        var (store, outputs) = await app.RunAsync(config, plan, false, CancellationToken.None);
        Assert.Equal("completed", JsonNode.Parse(File.ReadAllText(store.ManifestFile))!["status"]!.GetValue<string>());
        Assert.Contains(outputs, o => o.Findings.Count > 0);
    }

    /// <summary>YAML to JSON with YAML 1.2 core-schema scalars (what editors' YAML language servers do): plain
    /// true/false, null, integers and floats are typed; quoted scalars stay strings.</summary>
    internal static JsonNode? YamlToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Convert(stream.Documents[0].RootNode);

        static JsonNode? Convert(YamlNode node) => node switch
        {
            YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", Convert(kv.Value)))),
            YamlSequenceNode s => new JsonArray(s.Children.Select(Convert).ToArray()),
            YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } p => Plain(p.Value ?? ""),
            YamlScalarNode q => JsonValue.Create(q.Value),
            _ => null,
        };

        static JsonNode? Plain(string v)
        {
            if (v is "" or "~" or "null" or "Null" or "NULL") return null;
            if (v is "true" or "True" or "TRUE") return JsonValue.Create(true);
            if (v is "false" or "False" or "FALSE") return JsonValue.Create(false);
            if (Regex.IsMatch(v, "^[-+]?[0-9]+$") && long.TryParse(v, out var l)) return JsonValue.Create(l);
            if (Regex.IsMatch(v, @"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")) return JsonValue.Create(double.Parse(v, System.Globalization.CultureInfo.InvariantCulture));
            return JsonValue.Create(v);
        }
    }
}

/// <summary>The experiment example of README.md ("### Experiments"), read from the README itself.</summary>
internal static class ReadmeExample
{
    public static string Text()
    {
        var readme = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "README.md"));
        var section = readme.IndexOf("### Experiments", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no '### Experiments' section");
        var start = readme.IndexOf("```yaml\n", section, StringComparison.Ordinal) + "```yaml\n".Length;
        var end = readme.IndexOf("```", start, StringComparison.Ordinal);
        return readme[start..end];
    }

    /// <summary>The example as a file in <paramref name="dir"/> (for schema checks, which do not resolve paths).</summary>
    public static string WriteTo(string dir)
    {
        var path = Path.Combine(dir, "readme-example.yaml");
        File.WriteAllText(path, Text());
        return path;
    }
}
