using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using Json.Schema;

namespace BiasBench.Host.Tests.Configuration;

/// <summary>
/// Components referenced in options (<c>reward: { plugin: ..., options: {...} }</c>) and stage outputs
/// (<c>model: { from_stage: ID }</c>) are checked with the config like stages: located, named, all in one pass.
/// </summary>
public class ComponentReferenceConfigTests
{
    private static string Write(string dir, string yaml)
    {
        var path = Path.Combine(dir, "refs.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task Bad_references_and_stage_outputs_are_reported_with_file_line_and_column_in_one_pass()
    {
        var dir = TestApp.TempDir();
        var apiKey = "sk-nested-" + Guid.NewGuid().ToString("N");
        var file = Write(dir, $$"""
            experiment: bad-references
            stages:
              - id: images
                kind: data
                plugin: memory-images
              - id: early
                kind: generate
                plugin: path-generator
                prompts: [a face]
                seeds: 0..1
                options: { model: { from_stage: tune } }
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  reward: { plugin: lenght-reward }
                  generator: { plugin: length-reward }
                  rewards:
                    - { plugin: counting-reward, weight: heavy }
                    - { plugin: counting-reward, options: { scael: 2 } }
                    - { plugn: counting-reward }
                    - { plugin: counting-reward, options: { scale: 500, api_key: "{{apiKey}}" } }
                  judges: [ checksum-judge ]
              - id: after
                kind: generate
                plugin: path-generator
                prompts: [a face]
                seeds: 0..1
                options: { model: { from_stage: images } }
              - id: nowhere
                kind: generate
                plugin: path-generator
                prompts: [a face]
                seeds: 0..1
                options: { model: { from_stage: tuen } }
            """);
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(file);
        var error = Assert.Throws<ConfigException>(() => app.Plan(config));
        var messages = error.Problems.Select(p => p.ToString()).ToList();
        string At(int line) => $"{file}:{line}:";
        const string tune = "stage 'tune', fine-tuner 'recording-tuner': ";

        Assert.Contains(messages, m => m.StartsWith(At(11)) && m.Contains("stage 'early', generator 'path-generator': option 'model': stage 'tune' is not an earlier stage"));
        Assert.Contains(messages, m => m.StartsWith(At(16)) && m.Contains(tune + "option 'reward': no reward model named 'lenght-reward' (did you mean 'length-reward'?)"));
        Assert.Contains(messages, m => m.StartsWith(At(17)) && m.Contains(tune + "option 'generator': 'length-reward' is a reward model, not a generator."));
        Assert.Contains(messages, m => m.StartsWith(At(19)) && m.Contains(tune + "option 'rewards[0].weight' must be a number, got 'heavy'"));
        Assert.Contains(messages, m => m.StartsWith(At(20)) && m.Contains(tune + "rewards[1] (reward model 'counting-reward'): unknown option 'scael' (did you mean 'scale'?)"));
        Assert.Contains(messages, m => m.StartsWith(At(21)) && m.Contains("unknown key 'plugn' in option 'rewards[2]'") && m.Contains("did you mean 'plugin'"));
        Assert.Contains(messages, m => m.StartsWith(At(21)) && m.Contains("option 'rewards[2]' needs 'plugin'"));
        Assert.Contains(messages, m => m.StartsWith(At(22)) && m.Contains(tune + "rewards[3] (reward model 'counting-reward'): option 'scale'"));
        Assert.Contains(messages, m => m.StartsWith(At(23)) && m.Contains(tune + "judges[0] (judge 'checksum-judge'): option 'weights_file'") && m.Contains("required"));
        Assert.Contains(messages, m => m.StartsWith(At(29)) && m.Contains("stage 'after', generator 'path-generator': option 'model': stage 'images' is a data stage; only finetune stages produce a checkpoint."));
        Assert.Contains(messages, m => m.StartsWith(At(35)) && m.Contains("option 'model': there is no stage 'tuen' (did you mean 'tune'?)"));
        Assert.Equal(11, messages.Count);
        Assert.DoesNotContain(messages, m => m.Contains(apiKey));
    }

    [Fact]
    public async Task Missing_weights_of_a_referenced_component_stop_a_run_and_are_listed_by_validate()
    {
        var dir = TestApp.TempDir();
        var file = Write(dir, """
            experiment: nested-weights
            stages:
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  generator: { plugin: path-generator, options: { model: weights/tiny/missing.bin } }
            """);
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(file);

        var problem = Assert.Single(Assert.Throws<ConfigException>(() => app.Plan(config)).Problems);
        Assert.Equal((file, 7), (problem.Location.File, problem.Location.Line));
        Assert.StartsWith("stage 'tune', fine-tuner 'recording-tuner': generator (generator 'path-generator'): option 'model': the weights 'weights/tiny/missing.bin' do not exist", problem.Message);

        var missing = new List<string>();
        app.Plan(config, missingWeights: missing);
        var listed = Assert.Single(missing);
        Assert.StartsWith("stage 'tune' (recording-tuner): generator (generator 'path-generator'): option 'model': the weights 'weights/tiny/missing.bin' do not exist", listed);
    }

    [Fact]
    public async Task References_bind_to_the_referenced_plugins_options_with_weights_and_the_short_form()
    {
        var dir = TestApp.TempDir();
        File.WriteAllText(Path.Combine(dir, "base.bin"), "base");
        var file = Write(dir, """
            experiment: good-references
            stages:
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  reward: counting-reward
                  rewards:
                    - { plugin: counting-reward, weight: 0.5, options: { scale: 2 } }
                    - { plugin: length-reward, weight: -1 }
                  generator: { plugin: path-generator, options: { model: base.bin } }
              - id: after
                kind: generate
                plugin: path-generator
                prompts: [a face]
                seeds: 0..1
                options: { model: { from_stage: tune } }
            """);
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var plan = app.Plan(ExperimentConfigLoader.Load(file));
        var options = (RecordingTunerOptions)plan[0].Components[0].Options;
        Assert.Equal("counting-reward", options.Reward!.Plugin);
        Assert.Equal(1.0, Assert.IsType<CountingRewardOptions>(options.Reward.Options).Scale);
        Assert.Equal([0.5, -1.0], options.Rewards.Select(r => r.Weight));
        Assert.Equal(2.0, Assert.IsType<CountingRewardOptions>(options.Rewards[0].Options).Scale);
        Assert.IsType<LengthRewardOptions>(options.Rewards[1].Options);
        // Input paths of referenced components are resolved against the config's folder, like a stage's.
        Assert.Equal(Path.Combine(dir, "base.bin"), Assert.IsType<PathGeneratorOptions>(options.Generator!.Options).Model);
        Assert.True(ComponentReferences.PlanOf(options.Generator)!.Exclusive);
        Assert.False(ComponentReferences.PlanOf(options.Reward)!.Exclusive);
        // Until the run sets it, a { from_stage } option holds a placeholder that says where it comes from.
        Assert.Equal("<checkpoint of stage 'tune'>", ((PathGeneratorOptions)plan[1].Components[0].Options).Model);
    }

    [Fact]
    public async Task The_schema_lists_the_components_a_reference_may_name_with_their_options_and_stage_outputs()
    {
        await using var app = await ReferenceTestApp.StartAsync(Path.Combine(TestApp.TempDir(), "runs"));
        var schemaJson = SchemaGenerator.Generate(app.Catalog).ToJsonString();
        var tuner = SchemaGenerator.OptionsSchema(app.Catalog.Find(ComponentKind.FineTuner, "recording-tuner")!.Descriptor.OptionsType, null, app.Catalog);

        var reward = tuner["properties"]!["reward"]!["anyOf"]!.AsArray();
        var names = reward[0]!["enum"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Contains("counting-reward", names);
        Assert.Contains("length-reward", names);
        Assert.DoesNotContain("path-generator", names);
        var counting = reward[1]!["allOf"]!.AsArray().Single(v => v!["if"]!["properties"]!["plugin"]!["const"]!.GetValue<string>() == "counting-reward")!;
        Assert.Equal("number", counting["then"]!["properties"]!["options"]!["properties"]!["scale"]!["type"]!.GetValue<string>());
        var generatorNames = tuner["properties"]!["generator"]!["anyOf"]![0]!["enum"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Contains("path-generator", generatorNames);
        var pathGenerator = SchemaGenerator.OptionsSchema(typeof(PathGeneratorOptions));
        Assert.Equal("from_stage", pathGenerator["properties"]!["model"]!["anyOf"]![1]!["required"]![0]!.GetValue<string>());

        // Configs written with references and stage outputs validate against it; a misspelt nested option does not.
        var schema = JsonSchema.FromText(schemaJson);
        bool Valid(string yaml) => schema.Evaluate(JsonDocument.Parse(NewUserConfigTests.YamlToJson(yaml)!.ToJsonString()).RootElement).IsValid;
        const string good = """
            experiment: schema-references
            stages:
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  reward: counting-reward
                  rewards: [ { plugin: counting-reward, weight: 0.5, options: { scale: 2 } }, length-reward ]
                  generator: { plugin: path-generator, options: { model: base.bin } }
                  judges: [ { plugin: parity-judge } ]
              - id: after
                kind: generate
                plugin: path-generator
                prompts: [a face]
                seeds: 0..1
                options: { model: { from_stage: tune } }
            """;
        Assert.True(Valid(good));
        Assert.False(Valid(good.Replace("scale: 2", "scael: 2")));
        Assert.False(Valid(good.Replace("reward: counting-reward", "reward: path-generator")));
        Assert.False(Valid(good.Replace("from_stage: tune", "from_stag: tune")));
    }
}
