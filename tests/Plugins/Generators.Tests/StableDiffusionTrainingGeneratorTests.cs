using System.Text.Json;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Imaging;
using BiasBench.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.Generators.Tests;

/// <summary>
/// The stable-diffusion generator as a differentiable generator on the sd_tiny fixture: trained LoRA weights, saved with
/// SaveTrained, load back through the same generator (<c>model: FOLDER</c>) and give the trained generator's pixels.
/// </summary>
public sealed class StableDiffusionTrainingGeneratorTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-sd-generator-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static StableDiffusionOptions Options(string model)
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
    public async Task Trained_lora_saved_in_the_diffusers_layout_reloads_through_the_generator_with_the_same_pixels()
    {
        var folder = Fixtures.Path_("sd_tiny");
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "cases.json")));
        var prompts = json.RootElement.GetProperty("prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
        var options = Options(folder);
        using var generator = new StableDiffusionGenerator(options, "cpu", NullLogger.Instance);
        IDifferentiableImageGenerator differentiable = generator;
        Assert.Equal(options.Steps, differentiable.SamplingSteps);
        var requests = new[] { new GenerationRequest(prompts[0], 5) { NegativePrompt = prompts[1] }, new GenerationRequest(prompts[0], 6) };
        var before = await generator.GenerateAsync(requests, CancellationToken.None);

        var trainable = differentiable.PrepareTraining(new TrainingSetup { Kind = TrainableWeightsKind.Lora, LoraRank = 4, LoraAlpha = 4, InitSeed = 1 });
        Assert.Contains(trainable, p => p.Name.Contains(".attn2.to_v.lora_B.", StringComparison.Ordinal));
        Assert.EndsWith("+trained", generator.Info.WeightsChecksum);
        // A few "updates": random adapter weights stand in for trained ones.
        using (var random = new Generator(2))
        using (no_grad())
            foreach (var (_, p) in trainable) p.add_(randn(p.shape, generator: random) * 0.05);
        var trained = await generator.GenerateAsync(requests, CancellationToken.None);
        var saved = differentiable.SaveTrained(Path.Combine(_temp, "tuned"), new Dictionary<string, string> { ["note"] = "test" });
        foreach (var part in new[] { "model_index.json", "scheduler", "text_encoder", "vae", "unet/config.json", "unet/diffusion_pytorch_model.safetensors" })
            Assert.True(File.Exists(Path.Combine(saved, part)) || Directory.Exists(Path.Combine(saved, part)), $"the saved model has no {part}");

        using var reloaded = new StableDiffusionGenerator(Options(saved), "cpu", NullLogger.Instance);
        var again = await reloaded.GenerateAsync(requests, CancellationToken.None);
        for (var i = 0; i < requests.Length; i++)
        {
            var a = Pixels(trained[i]);
            var b = Pixels(again[i]);
            Assert.Equal(a.Length, b.Length);
            // Adapter path (W x + s B A x) and merged weights ((W + s B A) x) agree to float32 round-off (~1e-6 in [0, 1],
            // measured in the Generation tests), so a pixel may round to the neighbouring 8-bit level, never further.
            var worst = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
            output.WriteLine($"image {i}: trained in memory vs saved and reloaded: {a.Zip(b, (x, y) => x != y).Count(d => d)} of {a.Length} values differ, by at most {worst} levels");
            Assert.True(worst <= 1, $"image {i}: the reloaded model's pixels differ by up to {worst} levels");
            Assert.False(a.SequenceEqual(Pixels(before[i])), "the adapters should have changed the image");
        }
    }

    private static byte[] Pixels(ItemResult<GeneratedImage> result)
    {
        Assert.True(result.IsSuccess, result.Error);
        return ImageDecoder.Decode(result.Value!.EncodedPng, "generated").Pixels;
    }
}
