using BiasBench.Host.Configuration;

namespace BiasBench.Host.Tests.Configuration;

public class ExperimentConfigLoaderTests
{
    private static ExperimentConfig Parse(string yaml, Func<string, string?>? env = null) =>
        ExperimentConfigLoader.Parse(yaml.Replace("\t", "  "), "/cfg/exp.yaml", env ?? (_ => null));

    [Fact]
    public void Reads_a_minimal_experiment()
    {
        var c = Parse("""
            experiment: demo
            seed: 7
            stages:
              - id: sdxl
                kind: data
                plugin: score-table
                options: { path: a.csv }
              - kind: analyze
                plugin: prompt-condition-effect
                inputs: [sdxl]
            """);
        Assert.Equal("demo", c.Experiment);
        Assert.Equal(7, c.Seed);
        Assert.Equal(2, c.Stages.Count);
        Assert.Equal(StageKind.Data, c.Stages[0].Kind);
        Assert.Equal("analyze", c.Stages[1].Id);
        Assert.Equal(["sdxl"], c.Stages[1].Inputs);
    }

    [Fact]
    public void Malformed_yaml_names_file_line_and_column()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("experiment: x\nstages:\n  - kind: data\n    plugin: [unclosed\n"));
        var p = Assert.Single(e.Problems);
        Assert.Equal("/cfg/exp.yaml", p.Location.File);
        Assert.True(p.Location.Line >= 4, p.ToString());
        Assert.Contains("malformed YAML", p.Message);
    }

    [Fact]
    public void Unknown_keys_get_the_nearest_valid_name_and_location()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("experiment: x\nstagez: []\n"));
        Assert.Contains(e.Problems, p => p.Message.Contains("unknown key 'stagez'") && p.Message.Contains("did you mean 'stages'") && p.Location.Line == 2 && p.Location.Column == 1);
        var e2 = Assert.Throws<ConfigException>(() => Parse("experiment: x\nstages:\n  - kind: data\n    plugn: a\n"));
        Assert.Contains(e2.Problems, p => p.Message.Contains("did you mean 'plugin'") && p.Location.Line == 4);
    }

    [Fact]
    public void Collects_all_problems_before_failing()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            experiment: bad name!
            seed: many
            device: gpu
            stages:
              - kind: scor
              - kind: analyze
                plugin: x
                inputs: [nowhere]
            """));
        Assert.True(e.Problems.Count >= 5, string.Join("\n", e.Problems));
        Assert.Contains(e.Problems, p => p.Message.Contains("did you mean 'score'"));
        Assert.Contains(e.Problems, p => p.Message.Contains("'nowhere'"));
        Assert.Contains(e.Problems, p => p.Message.Contains("'seed' must be an integer"));
        Assert.Contains(e.Problems, p => p.Message.Contains("'device'"));
    }

    [Fact]
    public void Substitutes_environment_variables_and_masks_secrets()
    {
        var env = new Dictionary<string, string> { ["API_KEY"] = "sk-secret-123", ["DATA"] = "/data" };
        var c = Parse("""
            experiment: x
            stages:
              - kind: judge
                plugin: vlm
                options: { api_key: "${API_KEY}", folder: "${DATA}/faces", model: "${MODEL:-qwen}" }
            """, n => env.GetValueOrDefault(n));
        var options = c.Stages[0].Options;
        Assert.Equal("sk-secret-123", ((YamlDotNet.RepresentationModel.YamlScalarNode)options.Children[new YamlDotNet.RepresentationModel.YamlScalarNode("api_key")]).Value);
        Assert.Equal("/data/faces", ((YamlDotNet.RepresentationModel.YamlScalarNode)options.Children[new YamlDotNet.RepresentationModel.YamlScalarNode("folder")]).Value);
        Assert.Equal("qwen", ((YamlDotNet.RepresentationModel.YamlScalarNode)options.Children[new YamlDotNet.RepresentationModel.YamlScalarNode("model")]).Value);
        Assert.DoesNotContain("sk-secret-123", c.ResolvedYaml);
        Assert.Contains("/data/faces", c.ResolvedYaml);
    }

    [Fact]
    public void Missing_environment_variable_is_an_error_at_its_location()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("experiment: x\nstages:\n  - kind: data\n    plugin: p\n    options: { key: \"${NOPE}\" }\n"));
        Assert.Contains(e.Problems, p => p.Message.Contains("'NOPE' is not set") && p.Location.Line == 5);
    }

    [Fact]
    public void Sweeps_expand_to_the_cartesian_product()
    {
        var c = Parse("""
            experiment: x
            stages:
              - id: gen
                kind: generate
                plugin: ddpm
                prompts: { attractive: a photo of an attractive face, unattractive: a photo of an unattractive face }
                seeds: 0..9
                sweep: { steps: [10, 50], eta: [0.0, 1.0] }
              - id: score
                kind: score
                inputs: [gen]
                sweep: { plugin: [pickscore, hps] }
            """);
        var gen = c.Stages.Where(s => s.BaseId == "gen").ToList();
        Assert.Equal(4, gen.Count);
        Assert.Equal(10, gen[0].Seeds.Count);
        Assert.Equal(2, gen[0].Prompts.Count);
        Assert.Contains(gen, s => s.Id == "gen[steps=50,eta=1.0]");
        Assert.All(gen, s => Assert.Equal(2, s.Options.Children.Count));
        var score = c.Stages.Where(s => s.BaseId == "score").ToList();
        Assert.Equal(["pickscore", "hps"], score.Select(s => s.Plugins.Single()));
    }

    [Fact]
    public void Generate_stages_need_prompts_and_seeds()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("experiment: x\nstages:\n  - kind: generate\n    plugin: g\n"));
        Assert.Contains(e.Problems, p => p.Message.Contains("needs 'prompts'"));
    }

    [Fact]
    public void Unreadable_file_is_reported_with_its_path()
    {
        var e = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load("/no/such/dir/exp.yaml"));
        Assert.Contains("/no/such/dir/exp.yaml", e.Message);
    }
}
