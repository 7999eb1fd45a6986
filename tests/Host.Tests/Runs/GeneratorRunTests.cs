using BiasBench.Generation;
using BiasBench.Host.Configuration;
using BiasBench.Imaging;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// Both built-in diffusion generators end to end from YAML with the tiny fixture models: generate (sweeps, negative
/// prompt, seeds), PNG text chunks, the run table, the cache, then scoring and the prompt-condition analysis.
/// </summary>
// SharedPipelines.LoadCount is process-wide: run alone, so that other test classes loading pipelines in parallel (the
// config smoke and fine-tune runs) do not count towards this class's "one load" assertion.
[Collection(nameof(GeneratorRunTests))]
public class GeneratorRunTests
{
    [Fact]
    public async Task Ddpm_generates_from_yaml_sweeps_steps_without_reloading_and_resumes_from_the_cache()
    {
        var model = Fixtures.Path_("ddpm_unet");
        var dir = TestApp.TempDir();
        var yaml = Path.Combine(dir, "ddpm.yaml");
        File.WriteAllText(yaml, $"""
            experiment: ddpm-tiny
            stages:
              - id: faces
                kind: generate
                plugin: ddpm
                prompts: {"{"} face: "an unconditional face" {"}"}
                seeds: 0..2
                batch_size: 2
                options: {"{"} model: {model}, scheduler: ddim, dtype: float32 {"}"}
                sweep: {"{"} steps: [2, 3] {"}"}
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(yaml);
        // An earlier test's cached (unused) pipeline of the same model would serve this run without a load.
        SharedPipelines.Clear();
        var loadsBefore = SharedPipelines.LoadCount;
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.Equal(1, SharedPipelines.LoadCount - loadsBefore); // two sweep instances, one loaded model

        var instances = outputs.Where(o => o.Stage.BaseId == "faces").ToList();
        Assert.Equal(2, instances.Count);
        var ids = instances.SelectMany(o => o.Images.Select(i => i.Id)).ToList();
        Assert.Equal(6, ids.Distinct().Count()); // sweep values are part of the ids
        Assert.Contains("ddpm_face_0_steps-2", ids);
        Assert.All(instances, o => Assert.Equal((3, 0), (o.ItemsComputed, o.ItemsFailed)));

        var table = instances[0].Tables.Single();
        Assert.Equal(64, table.Text("weights_sha256").Values[0]!.Length);
        Assert.Equal("DDIMScheduler", table.Text("scheduler").Values[0]);
        Assert.Equal("float32", table.Text("dtype").Values[0]);
        var png = File.ReadAllBytes(instances[0].Images[0].Path!);
        var chunks = PngTextChunks.Read(png).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("an unconditional face", chunks["prompt"]);
        Assert.Equal("0", chunks["seed"]);
        Assert.Equal("DDIMScheduler", chunks["scheduler"]);
        Assert.Contains(chunks["steps"], new[] { "2", "3" });
        Assert.Equal(table.Text("weights_sha256").Values[0], chunks["weights_sha256"]);
        var image = ImageDecoder.Decode(png, "faces");
        var sampleSize = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(model, "unet", "config.json"))).RootElement.GetProperty("sample_size").GetInt32();
        Assert.Equal((sampleSize, sampleSize), (image.Width, image.Height));

        var (_, again) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);
        Assert.All(again.Where(o => o.Stage.BaseId == "faces"), o => Assert.Equal((0, 3), (o.ItemsComputed, o.ItemsFromCache)));
    }

    [Fact]
    public async Task Stable_diffusion_generates_scores_and_analyses_prompt_pairs_from_yaml()
    {
        var model = Fixtures.Path_("sd_tiny");
        var bpe = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz");
        var onnx = Directory.GetFiles(Fixtures.Path_("onnx_clip"), "*.onnx").Single();
        var dir = TestApp.TempDir();
        var yaml = Path.Combine(dir, "sd.yaml");
        File.WriteAllText(yaml, $"""
            experiment: sd-tiny
            stages:
              - id: faces
                kind: generate
                plugin: stable-diffusion
                prompts:
                  unattractive: "a portrait photo of a unattractive face"
                  normal: "a portrait photo of a face"
                  attractive: "a portrait photo of a attractive face"
                negative_prompt: "blurry, low quality"
                seeds: 0..3
                batch_size: 4
                options: {"{"} model: {model}, tokenizer_bpe_path: {bpe}, steps: 2, guidance_scale: 7.5, scheduler: ddim {"}"}
              - id: scores
                kind: score
                plugin: onnx-reward
                inputs: [faces]
                scoring_prompt: "a portrait photo of a face"
                options:
                  model_path: {onnx}
                  bpe_vocab_path: {bpe}
                  output: logits_per_image
                  reduce: diagonal
                  score_name: pickscore-onnx
              - id: effect
                kind: analyze
                plugin: prompt-condition-effect
                inputs: [scores]
                options: {"{"} conditions: [unattractive, normal, attractive], rewards: [pickscore-onnx] {"}"}
              - kind: report
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(yaml);
        var (store, outputs) = await app.RunAsync(config, app.Plan(config), false, CancellationToken.None);

        var faces = outputs.Single(o => o.Stage.Id == "faces");
        Assert.Equal((12, 0), (faces.ItemsComputed, faces.ItemsFailed));
        var table = faces.Tables.Single();
        Assert.All(table.Text("negative_prompt").Values, v => Assert.Equal("blurry, low quality", v));
        Assert.All(table.Text("guidance_scale").Values, v => Assert.Equal("7.5", v));
        var chunks = PngTextChunks.Read(File.ReadAllBytes(faces.Images[0].Path!)).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("blurry, low quality", chunks["negative_prompt"]);
        Assert.Equal("7.5", chunks["guidance_scale"]);
        Assert.Equal("2", chunks["steps"]);

        var scores = outputs.Single(o => o.Stage.Id == "scores");
        Assert.Equal(12, scores.Primary!.Numeric("pickscore-onnx").Values.Count(double.IsFinite));
        Assert.All(scores.Primary.Text("prompt").Values, p => Assert.Equal("a portrait photo of a face", p));
        Assert.Equal(3, scores.Primary.Text("condition").Values.Distinct().Count());
        var effect = outputs.Single(o => o.Stage.Id == "effect");
        Assert.NotEmpty(effect.Tables);
        Assert.True(File.Exists(Path.Combine(store.Directory, "report.md")));
    }

    [Fact]
    public async Task Missing_weights_stop_a_run_before_any_work_and_are_warnings_for_validate()
    {
        var dir = TestApp.TempDir();
        var yaml = Path.Combine(dir, "missing.yaml");
        File.WriteAllText(yaml, """
            experiment: missing-weights
            stages:
              - id: faces
                kind: generate
                plugin: ddpm
                prompts: { face: "a face" }
                seeds: [0]
                options: { model: biasbench-tests/never-downloaded }
            """);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(yaml);
        var e = Assert.Throws<ConfigException>(() => app.Plan(config));
        Assert.Contains("biasbench-tests/never-downloaded", e.Message);
        Assert.Contains("biasbench models download", e.Message);

        var missing = new List<string>();
        var plan = app.Plan(config, missingWeights: missing);
        Assert.Single(plan);
        Assert.Contains("never-downloaded", Assert.Single(missing));
        Assert.False(Directory.Exists(Path.Combine(dir, "runs")) && Directory.EnumerateDirectories(Path.Combine(dir, "runs")).Any());
    }
}

[CollectionDefinition(nameof(GeneratorRunTests), DisableParallelization = true)]
public sealed class GeneratorRunTestsCollection;
