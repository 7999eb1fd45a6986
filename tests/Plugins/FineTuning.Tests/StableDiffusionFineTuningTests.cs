using System.Text.Json;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Plugins.Generators;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using Microsoft.Extensions.Logging.Abstractions;

namespace BiasBench.Plugins.FineTuning.Tests;

/// <summary>
/// DRaFT-1 through the draft fine-tuner with the prompt-conditioned stable-diffusion generator (sd_tiny fixture, CFG
/// at the fixture's guidance scale, conditioned on the reward prompt) against the fixture aesthetic reward of
/// draft_step/ (CPU, seconds): the reward rises, the default trainable weights are LoRA adapters, and the stage output
/// loads through the stable-diffusion generator.
/// </summary>
public sealed class StableDiffusionFineTuningTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-finetune-sd-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static StableDiffusionOptions GeneratorOptions(string model)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Path_("sd_tiny"), "cases.json")));
        return new StableDiffusionOptions
        {
            Model = model,
            Steps = json.RootElement.GetProperty("timesteps").GetArrayLength(),
            GuidanceScale = json.RootElement.GetProperty("guidance_scale").GetDouble(),
            TokenizerBpePath = Fixtures.Data(Path.Combine("tokenizers", "clip_bpe_simple_vocab_16e6.txt.gz")),
            Device = "cpu",
            Dtype = "float32",
            BatchSize = 2,
        };
    }

    [Fact]
    public async Task A_few_draft_updates_of_stable_diffusion_raise_the_reward_and_train_lora_by_default()
    {
        using var fixture = DraftStepFixture.Open();
        var options = new DraftOptions
        {
            Generator = new ComponentReference<IDifferentiableImageGenerator> { Plugin = StableDiffusionGenerator.GeneratorName, Options = GeneratorOptions(Fixtures.Path_("sd_tiny")) },
            Reward = fixture.RewardReference(),
            TrainingSteps = 6,
            BatchSize = 2,
            LearningRate = 1e-2,
            LoraRank = 4,
            LoraAlpha = 4,
            Precision = "float32",
            CheckpointEverySteps = 3,
            LogEverySteps = 1,
            MonitorEverySteps = 6,
            MonitorImages = 4,
            GridImages = 4,
        };
        // Conditioned on (and scored against) the fixture's first prompt and the reward prompt in turn.
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Path_("sd_tiny"), "cases.json"))))
            options.Prompts = [json.RootElement.GetProperty("prompts")[0].GetString()!, options.RewardPrompt];
        Assert.Equal("auto", options.Trainable);
        var work = Path.Combine(_temp, "sd");
        FineTuneResult result;
        using (var components = new PluginComponents(_temp))
            result = components.FineTuner(options.Algorithm, options).Run(Path.Combine(work, "out"), work, seed: 3, NullLogger.Instance, null, null, CancellationToken.None);

        var monitor = result.Tables.Single(t => t.Name == "monitor");
        var steps = monitor.Numeric("step").Values;
        var reward = monitor.Numeric("training_reward").Values;
        output.WriteLine($"monitor: {string.Join("; ", steps.Select((s, i) => $"step {s}: reward {reward[i]:G6}"))}");
        output.WriteLine($"training log rewards: {string.Join(", ", result.TrainingLog.Numeric("reward").Values.Select(v => v.ToString("G6")))}");
        Assert.Equal([0.0, 6.0], steps);
        Assert.True(reward[1] > reward[0], $"the training reward on the monitor seeds did not rise: {reward[0]} -> {reward[1]}");
        Assert.All(result.TrainingLog.Numeric("gradient_norm").Values, v => Assert.True(double.IsFinite(v) && v > 0));

        // trainable: auto is LoRA for stable-diffusion: only adapters are trained (and kept in the training state).
        using (var state = SafeTensorsFile.Open(Path.Combine(work, RewardFineTuner.StateFile)))
        {
            var trained = state.Entries.Keys.Where(k => k.StartsWith("model.", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(trained);
            Assert.All(trained, k => Assert.Matches(@"\.(to_q|to_k|to_v|to_out\.0)\.lora_[AB]\.weight$", k));
        }

        // The stage output is a Stable Diffusion folder the stable-diffusion generator loads.
        using var reloaded = new StableDiffusionGenerator(GeneratorOptions(result.CheckpointPath), "cpu", NullLogger.Instance);
        var images = await reloaded.GenerateAsync([new GenerationRequest(options.RewardPrompt, options.MonitorSeedStart)], CancellationToken.None);
        Assert.True(images[0].IsSuccess, images[0].Error);
    }

    [Fact]
    public void Prompts_are_taken_in_turn_over_the_runs_images_and_default_to_the_reward_prompt()
    {
        using var fixture = DraftStepFixture.Open();
        using var components = new PluginComponents(_temp);
        var reward = components.Resolve(fixture.RewardReference());
        var options = new DraftOptions
        {
            Generator = new ComponentReference<IDifferentiableImageGenerator> { Plugin = StableDiffusionGenerator.GeneratorName, Options = GeneratorOptions(Fixtures.Path_("sd_tiny")) },
            Reward = fixture.RewardReference(), BatchSize = 2, GradientAccumulation = 2, Prompts = ["a", "b", "c"],
        };
        var objective = new RewardObjective([("aesthetic", reward, 1.0)], options.RewardPrompt);
        var algorithm = RewardAlgorithm.Create(options, objective, runSeed: 0);
        // Update 1, pass 1 holds the run's images 6 and 7: prompts 6 mod 3 and 7 mod 3.
        Assert.Equal(["a", "b"], algorithm.Pass(1, 1, samplingSteps: 4, lossDivisor: 2).Request.Prompts);
        Assert.Equal(["c", "a"], algorithm.Pass(2, 0, samplingSteps: 4, lossDivisor: 2).Request.Prompts);
        options.Prompts = null;
        Assert.Equal([options.RewardPrompt, options.RewardPrompt], algorithm.Pass(1, 1, 4, 2).Request.Prompts);
        options.Prompts = ["a", " "];
        var errors = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        Assert.False(System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), errors, validateAllProperties: true));
        Assert.Contains(errors, e => e.ErrorMessage!.Contains("prompts must be"));
    }
}
