using System.Text.RegularExpressions;
using BiasBench.Host.Configuration;
using BiasBench.Imaging;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// The shipped generator experiments (configs/ddpm-faces.yaml, configs/prompt-beauty-sd15.yaml) through the YAML host on
/// the CPU: the same files with their sizes shrunk line by line and their environment variables pointing at the tiny
/// fixture models (ddpm_unet, sd_tiny, and the fixture HPS/PickScore/ImageReward rewards).
/// </summary>
public class GeneratorConfigSmokeTests
{
    private static string Shrunk(string file, string dir, params (string Pattern, string Replacement, int Count)[] shrink)
    {
        var path = Path.Combine(Fixtures.RepoRoot, "configs", file);
        var text = File.ReadAllText(path);
        // Each replaced line must occur as often as stated, so a change of the config's shape fails here instead of
        // silently running something else.
        foreach (var (pattern, replacement, count) in shrink)
        {
            var regex = new Regex(pattern, RegexOptions.Multiline);
            Assert.True(regex.Matches(text).Count == count, $"expected {count} line(s) matching {pattern} in {path}");
            text = regex.Replace(text, replacement);
        }
        var smoke = Path.Combine(dir, "smoke-" + file);
        File.WriteAllText(smoke, text);
        return smoke;
    }

    /// <summary>The reward models' variables, at the fixture models. PickScore's folder is laid out as `models download
    /// pickscore` does, with open_clip's BPE file in place of vocab.json/merges.txt (the fixture has neither).</summary>
    private static Dictionary<string, string> RewardEnvironment(string dir)
    {
        var bpe = Fixtures.Data("tokenizers/clip_bpe_simple_vocab_16e6.txt.gz");
        var pickscore = Directory.CreateDirectory(Path.Combine(dir, "models", "pickscore")).FullName;
        foreach (var file in new[] { "config.json", "model.safetensors" })
            File.CreateSymbolicLink(Path.Combine(pickscore, file), Path.Combine(Fixtures.Path_("clip_hf"), file));
        File.CreateSymbolicLink(Path.Combine(pickscore, "bpe_simple_vocab_16e6.txt.gz"), bpe);
        return new Dictionary<string, string>
        {
            ["PICKSCORE_MODEL"] = pickscore,
            ["HPS_V2_MODEL"] = Fixtures.Path_("open_clip"),
            ["CLIP_BPE"] = bpe,
            ["IMAGE_REWARD_MODEL"] = Fixtures.Path_("image_reward"),
            ["BERT_VOCAB"] = Fixtures.Data("tokenizers/bert-base-uncased-vocab.txt"),
        };
    }

    private static readonly string[] ScoreStages = ["image-reward", "pickscore", "hps"];

    private static int SampleSize(string unetFolder) =>
        System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(unetFolder, "config.json"))).RootElement.GetProperty("sample_size").GetInt32();

    [Fact]
    public async Task Ddpm_faces_config_generates_and_scores_with_every_reward()
    {
        var dir = TestApp.TempDir();
        var config = Shrunk("ddpm-faces.yaml", dir,
            (@"^(\s+seeds:) 0\.\.999$", "$1 0..3", 1),
            (@"^(\s+batch_size:) 16$", "$1 2", 1),
            (@"^(\s+steps:) 50$", "$1 2", 1));
        var environment = RewardEnvironment(dir);
        environment["DDPM_MODEL"] = Fixtures.Path_("ddpm_unet");
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var loaded = ExperimentConfigLoader.Load(config, name => environment.TryGetValue(name, out var v) ? v : Environment.GetEnvironmentVariable(name));
        var (store, outputs) = await app.RunAsync(loaded, app.Plan(loaded), false, CancellationToken.None);

        var faces = outputs.Single(o => o.Stage.Id == "faces");
        Assert.Equal((4, 0), (faces.ItemsComputed, faces.ItemsFailed));
        Assert.Equal(4, faces.Images.Count);
        var table = faces.Tables.Single();
        Assert.All(table.Text("scheduler").Values, v => Assert.Equal("DDIMScheduler", v));
        Assert.All(table.Text("steps").Values, v => Assert.Equal("2", v));
        var size = SampleSize(Path.Combine(environment["DDPM_MODEL"], "unet"));
        foreach (var image in faces.Images)
        {
            var decoded = ImageDecoder.Decode(File.ReadAllBytes(image.Path!), image.Id);
            Assert.Equal((size, size), (decoded.Width, decoded.Height));
        }
        foreach (var id in ScoreStages)
        {
            var scores = outputs.Single(o => o.Stage.Id == id).Primary!;
            Assert.Equal(4, scores.RowCount);
            Assert.All(scores.Text("prompt").Values, p => Assert.Equal("a portrait photo of a face", p));
        }
        Assert.Equal(4, outputs.Single(o => o.Stage.Id == "pickscore").Primary!.Numeric("pickscore").Values.Count(double.IsFinite));
        Assert.True(File.Exists(Path.Combine(store.Directory, "report.md")));
    }

    [Fact]
    public async Task Prompt_beauty_sd15_config_generates_prompt_pairs_scores_and_analyses()
    {
        var dir = TestApp.TempDir();
        var config = Shrunk("prompt-beauty-sd15.yaml", dir,
            (@"^(\s+seeds:) 0\.\.99$", "$1 0..3", 1),
            (@"^(\s+batch_size:) 8$", "$1 6", 1),
            // PNDM from sd_tiny's scheduler config (skip_prk_steps unset, unlike SD 1.5's) runs the PRK warm-up: 4 steps at least.
            (@"^(\s+steps:) 50$", "$1 4", 1));
        var environment = RewardEnvironment(dir);
        environment["SD_MODEL"] = Fixtures.Path_("sd_tiny");
        environment["SD_TOKENIZER_BPE"] = environment["CLIP_BPE"]; // the fixture has no tokenizer/ folder
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var loaded = ExperimentConfigLoader.Load(config, name => environment.TryGetValue(name, out var v) ? v : Environment.GetEnvironmentVariable(name));
        var (store, outputs) = await app.RunAsync(loaded, app.Plan(loaded), false, CancellationToken.None);

        var images = outputs.Single(o => o.Stage.Id == "sd15");
        Assert.Equal((12, 0), (images.ItemsComputed, images.ItemsFailed));
        var table = images.Tables.Single();
        Assert.Equal(["a portrait photo of a attractive face", "a portrait photo of a face", "a portrait photo of a unattractive face"],
            table.Text("prompt").Values.Distinct().Order(StringComparer.Ordinal));
        Assert.All(table.Text("scheduler").Values, v => Assert.Equal("PNDMScheduler", v));
        Assert.All(table.Text("guidance_scale").Values, v => Assert.Equal("7.5", v));
        var chunks = PngTextChunks.Read(File.ReadAllBytes(images.Images[0].Path!)).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("4", chunks["steps"]);
        foreach (var id in ScoreStages)
        {
            var scores = outputs.Single(o => o.Stage.Id == id).Primary!;
            Assert.Equal(12, scores.RowCount);
            Assert.Equal(3, scores.Text("condition").Values.Distinct().Count());
        }
        var effect = outputs.Single(o => o.Stage.Id == "prompt-effect");
        Assert.NotEmpty(effect.Tables);
        Assert.True(File.Exists(Path.Combine(store.Directory, "report.md")));
    }
}
