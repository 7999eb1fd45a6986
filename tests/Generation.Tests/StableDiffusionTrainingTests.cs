using BiasBench.Abstractions.Torch;
using BiasBench.Networks.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation.Tests;

/// <summary>
/// The trainable copy of Stable Diffusion's UNet on the sd_tiny fixture: the graph-keeping pass computes what diffusers'
/// sampling computes; its gradients match central finite differences in float64 (there is no SD gradient fixture); the
/// step-recompute path gives the plain path's gradients; LoRA starts as the base network, trains only its adapters, and a
/// merged save reloads as the same network.
/// </summary>
public sealed class StableDiffusionTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-sd-training-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static StableDiffusionPipeline Load(string folder, ScalarType dtype = ScalarType.Float32) =>
        StableDiffusionPipeline.Load(new PipelineLoadOptions(folder, "cpu", dtype), GenerationFixture.ClipBpe());

    private static StableDiffusionTraining Create(StableDiffusionPipeline pipeline, SamplingSettings settings, TrainingSetup setup)
    {
        var master = DiffusionModels.LoadUNet2DCondition(Path.Combine(pipeline.Folder, "unet"));
        master.To(CPU, pipeline.DType);
        return new StableDiffusionTraining(pipeline, master, settings, setup);
    }

    /// <summary>The fixture's recipe: prompts[0] guided against prompts[1] at its guidance scale, its number of DDIM steps.</summary>
    private static (List<string> Prompts, SamplingSettings Settings) Recipe(string folder)
    {
        using var json = GenerationFixture.CasesJson(folder);
        var root = json.RootElement;
        var prompts = root.GetProperty("prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
        var settings = new SamplingSettings
        {
            Steps = root.GetProperty("timesteps").GetArrayLength(),
            GuidanceScale = root.GetProperty("guidance_scale").GetDouble(),
        };
        return (prompts, settings);
    }

    private static TrainingSetup Lora(int rank = 2) => new() { Kind = TrainableWeightsKind.Lora, LoraRank = rank, LoraAlpha = rank, InitSeed = 5 };

    /// <summary>Gives the adapters' B (zero at the start) random values, so every adapter weight has a gradient.</summary>
    private static void PerturbAdapters(StableDiffusionTraining training, double scale, long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, p) in training.TrainableParameters)
            using (var delta = randn(p.shape, dtype: p.dtype, generator: generator))
                p.add_(delta * scale);
    }

    private static Dictionary<string, Tensor> Gradients(StableDiffusionTraining training) =>
        training.TrainableParameters.ToDictionary(p => p.Name, p => p.Parameter.grad!.detach().clone());

    private static void ZeroGradients(StableDiffusionTraining training)
    {
        foreach (var (_, p) in training.TrainableParameters) p.grad = null;
    }

    [Fact]
    public void Graph_keeping_pass_through_every_step_matches_diffusers_sampling()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder);
        var (prompts, settings) = Recipe(folder);
        var cases = GenerationFixture.Cases(folder);
        using var training = Create(pipeline, settings, new TrainingSetup());
        try
        {
            foreach (var recompute in new[] { false, true })
            {
                var request = new DifferentiableSampling
                {
                    Prompts = [prompts[0]], NegativePrompts = [prompts[1]], InitialNoise = cases["latents_T"],
                    GradientSteps = training.Schedule.Count, RecomputeSteps = recompute,
                };
                Tensor? seen = null;
                var result = training.Backward(request, images =>
                {
                    Assert.True(images.requires_grad, "the images the objective sees must be connected to the graph");
                    seen = images.detach().clone().DetachFromDisposeScope();
                    return images.mean();
                });
                var diff = GenerationFixture.MaxAbsDiff(result.Images, cases["ddim4_cfg7.5_image01"]);
                output.WriteLine($"{training.Schedule.Count} gradient steps (recompute {recompute}): image max |diff| vs diffusers {diff:E3}");
                Assert.True(diff <= GenerationFixture.Tolerance, $"the differentiable pass's image differs from diffusers' by {diff:E3}");
                Assert.NotNull(seen);
                Assert.True(GenerationFixture.MaxAbsDiff(seen, result.Images) == 0);
                Assert.All(training.TrainableParameters, p => Assert.NotNull(p.Parameter.grad));
                seen.Dispose();
                result.Images.Dispose();
                ZeroGradients(training);
            }
        }
        finally { cases.DisposeAll(); }
    }

    [Fact]
    public void Gradients_match_central_finite_differences_in_float64()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder, ScalarType.Float64);
        var (prompts, settings) = Recipe(folder);
        // Two sampling steps keep the 2 x (1 + 2 x probes) passes short; the check does not need the fixture's schedule.
        using var training = Create(pipeline, settings with { Steps = 2 }, Lora());
        PerturbAdapters(training, 0.05, seed: 9);
        using var weights = rand([1, 3, training.SampleShape[1] * training.VaeScaleFactor, training.SampleShape[2] * training.VaeScaleFactor],
            dtype: ScalarType.Float64, generator: new Generator(17));
        // A finite difference moves the weights of every step, so the gradient must flow through every step to be
        // comparable: DRaFT-K with K = all steps (the guided UNet at each, the scheduler, the VAE decoder), and ReFL's
        // one-step prediction from the first step.
        var requests = new[]
        {
            new DifferentiableSampling { Prompts = [prompts[0]], NegativePrompts = [prompts[1]], Seeds = [4], GradientSteps = training.Schedule.Count },
            new DifferentiableSampling { Prompts = [prompts[0]], NegativePrompts = [prompts[1]], Seeds = [4], StopStep = 0 },
        };
        Tensor Objective(Tensor images) => (images * weights).sum();
        foreach (var request in requests)
        {
            ZeroGradients(training);
            training.Backward(request, Objective).Images.Dispose();
            var gradients = Gradients(training);
            // One element of a self-attention (attn1) A weight for DRaFT, of a cross-attention (attn2) B weight for ReFL.
            var probes = training.TrainableParameters
                .Where(p => p.Name.Contains(request.StopStep is null ? ".attn1.to_q.lora_A." : ".attn2.to_k.lora_B."))
                .Take(1).ToList();
            Assert.NotEmpty(probes);
            const double h = 1e-4;
            foreach (var (name, parameter) in probes)
            {
                var index = parameter.numel() / 2;
                double Loss(double offset)
                {
                    using (no_grad()) parameter.view(-1)[index].add_(offset);
                    var loss = training.Backward(request, Objective);
                    loss.Images.Dispose();
                    using (no_grad()) parameter.view(-1)[index].sub_(offset);
                    return loss.Loss;
                }
                var numeric = (Loss(h) - Loss(-h)) / (2 * h);
                var analytic = gradients[name].view(-1)[index].item<double>();
                var error = Math.Abs(numeric - analytic);
                output.WriteLine($"{(request.StopStep is null ? $"DRaFT-{request.GradientSteps}" : "ReFL")} {name}[{index}]: autograd {analytic:E10}, central difference {numeric:E10}, |diff| {error:E2}");
                // float64, central difference with h = 1e-4: the loss sums ~10^3 pixels through ~10^2 layers, so its
                // round-off (~1e-14 |L|, |L| ~ 10^2) over 2h is ~1e-8, and the truncation h^2 |L'''| / 6 about as large;
                // 1e-6 relative (1e-9 absolute near zero; measured ~3e-8 relative) keeps a margin over both and still catches any missing,
                // doubled or mis-scaled term (those are O(1) relative).
                Assert.True(error <= 1e-9 + 1e-6 * Math.Abs(numeric), $"{name}[{index}]: autograd {analytic} vs finite difference {numeric}");
            }
            foreach (var g in gradients.Values) g.Dispose();
        }
    }

    [Fact]
    public void Recomputed_steps_give_the_plain_paths_gradients()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder);
        var (prompts, settings) = Recipe(folder);
        using var training = Create(pipeline, settings, Lora());
        PerturbAdapters(training, 0.05, seed: 9);
        Dictionary<string, Tensor> Run(bool recompute)
        {
            ZeroGradients(training);
            var result = training.Backward(new DifferentiableSampling
            {
                Prompts = [prompts[0], prompts[0]], Seeds = [1, 2], GradientSteps = 3, RecomputeSteps = recompute, BasePenaltyWeight = 0.5,
            }, images => images.square().mean());
            result.Images.Dispose();
            return Gradients(training);
        }
        var plain = Run(false);
        var recomputed = Run(true);
        var worst = 0.0;
        foreach (var (name, g) in plain)
        {
            var scale = g.abs().max().item<float>();
            var diff = (g - recomputed[name]).abs().max().item<float>();
            worst = Math.Max(worst, diff / Math.Max(scale, 1e-12));
            // The same float32 operations in the same order, only split into segments: equal up to the order in which
            // autograd adds a parameter's gradient contributions (the UNet is called at every step).
            Assert.True(diff <= 1e-5 * scale + 1e-9, $"{name}: recomputed gradient differs by {diff} (max |g| {scale})");
        }
        output.WriteLine($"recompute vs plain (3 gradient steps, base penalty): worst relative difference {worst:E2}");
    }

    [Fact]
    public void Lora_starts_as_the_base_network_trains_only_its_adapters_and_reloads_merged()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder);
        var (prompts, settings) = Recipe(folder);
        using var lora = Create(pipeline, settings, Lora(rank: 4));
        List<string> batch = [prompts[0], prompts[0]];
        List<string?> negatives = [prompts[1], prompts[1]];
        using (var a = pipeline.Generate(batch, negatives, [1, 2], settings))
        using (var b = lora.Generate(batch, negatives, [1, 2]))
            Assert.True(a.equal(b).all().item<bool>(), "LoRA with B = 0 must sample exactly what the base network samples");
        var names = lora.TrainableParameters.Select(p => p.Name).ToList();
        Assert.All(names, n => Assert.Matches(@"\.(attn1|attn2)\.(to_q|to_k|to_v|to_out\.0)\.lora_[AB]\.weight$", n));
        Assert.Contains(names, n => n.Contains(".attn2.to_k.")); // cross-attention is adapted too

        lora.Backward(new DifferentiableSampling { Prompts = batch, NegativePrompts = negatives, Seeds = [11, 12], GradientSteps = 2 }, images => images.mean()).Images.Dispose();
        foreach (var (name, p) in lora.TrainableParameters)
        {
            var norm = p.grad!.norm().item<float>();
            if (name.Contains(".lora_B.")) Assert.True(norm > 0, $"{name} has no gradient");
            else Assert.Equal(0f, norm); // B = 0, so dL/dA = 0 in the first pass
        }
        Assert.All(lora.Master.named_parameters().Where(p => !p.name.Contains(".lora_")), p => Assert.Null(p.parameter.grad));
        Assert.All(pipeline.Vae.parameters().Concat(pipeline.TextEncoder.parameters()).Concat(pipeline.Unet.parameters()), p => Assert.Null(p.grad));

        PerturbAdapters(lora, 0.05, seed: 3);
        var saved = lora.SaveDiffusers(Path.Combine(_temp, "sd-lora-merged"));
        Assert.True(File.Exists(Path.Combine(saved, "model_index.json")));
        using var reloaded = Load(saved);
        using var adapted = lora.Generate(batch, negatives, [1, 2]);
        using var merged = reloaded.Generate(batch, negatives, [1, 2], settings);
        using var baseImages = pipeline.Generate(batch, negatives, [1, 2], settings);
        var diff = GenerationFixture.MaxAbsDiff(adapted, merged);
        var moved = GenerationFixture.MaxAbsDiff(adapted, baseImages);
        output.WriteLine($"adapted vs merged-and-reloaded: max |diff| {diff:E2} (adapted vs base {moved:E2})");
        // A lower bound, not a tolerance: the reload check above only means something if the adapters move the pixels
        // well beyond round-off (the merge/reload difference is held to the tight bound).
        Assert.True(moved > 1e-3, "the perturbed adapters should change the images");
        Assert.True(diff <= GenerationFixture.Tolerance, $"merged LoRA differs by {diff}");
    }
    [Fact]
    public void Bf16_compute_and_the_pretraining_loss_give_float32_master_gradients_on_the_adapters_only()
    {
        var folder = GenerationFixture.Folder(GenerationFixture.StableDiffusion);
        using var pipeline = Load(folder);
        var (prompts, settings) = Recipe(folder);
        using var bf16 = Create(pipeline, settings with { Steps = 2 }, Lora() with { ComputeDType = ScalarType.BFloat16 });
        Assert.Equal(ScalarType.BFloat16, bf16.Network.DType);
        var result = bf16.Backward(new DifferentiableSampling { Prompts = [prompts[0]], Seeds = [3], GradientSteps = 1 }, images => images.mean());
        Assert.True(double.IsFinite(result.Loss));
        result.Images.Dispose();
        Assert.All(bf16.TrainableParameters, p => Assert.Equal(ScalarType.Float32, p.Parameter.grad!.dtype));
        Assert.All(bf16.Network.parameters(), p => Assert.Null(p.grad)); // moved to the masters after the pass
        ZeroGradients(bf16);

        // The pre-training loss on "real" images of the generator's size: deterministic for a generator seed, adapters only.
        var side = bf16.SampleShape[1] * bf16.VaeScaleFactor;
        using var images = rand([2, 3, side, bf16.SampleShape[2] * bf16.VaeScaleFactor], generator: new Generator(4));
        double Loss()
        {
            using var generator = new Generator(8);
            return bf16.DenoisingBackward(images, [prompts[0], prompts[0]], generator, weight: 1.0);
        }
        var first = Loss();
        var second = Loss();
        output.WriteLine($"pre-training loss (bf16 compute): {first:G6}");
        Assert.True(double.IsFinite(first) && first > 0, $"loss {first}");
        Assert.Equal(first, second);
        Assert.Contains(bf16.TrainableParameters, p => p.Name.Contains(".lora_B.") && p.Parameter.grad!.abs().max().item<float>() > 0);
        Assert.All(pipeline.Vae.parameters().Concat(pipeline.TextEncoder.parameters()), p => Assert.Null(p.grad));
        var wrong = Assert.Throws<ArgumentException>(() => bf16.DenoisingBackward(images[.., .., ..(int)(side / 2)], [prompts[0], prompts[0]], new Generator(1), 1.0));
        Assert.Contains("Real images must be", wrong.Message);
    }
}
