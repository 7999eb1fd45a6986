using BiasBench.Abstractions.Torch;
using BiasBench.Networks.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation.Tests;

/// <summary>
/// The trainable copy of a UNet2DModel (the fine-tuning side of the ddpm generator) on the draft_step fixture's UNet: LoRA
/// starts as the base network and trains only its adapters; bf16 compute keeps float32 master weights whose gradients
/// follow the float32 ones; a saved model reloads as the same network. (Gradient parity with PyTorch is checked in the
/// FineTuning plugin's tests against draft_step/.)
/// </summary>
public sealed class DdpmTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("biasbench-ddpm-training-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    // draft_step/ holds the smallest UNet2DModel of the fixtures (the same layout as ddpm_unet/).
    private const string SmallUNet = "draft_step";

    private static DdpmTraining Create(DdpmPipeline pipeline, TrainingSetup setup)
    {
        var master = DiffusionModels.LoadUNet2D(Path.Combine(pipeline.Folder, "unet"));
        master.To(CPU, ScalarType.Float32);
        return new DdpmTraining(master, pipeline.Unet, pipeline.SchedulerConfig, new SamplingSettings { Steps = 2, Scheduler = "ddim" }, setup, pipeline.Folder);
    }

    private static DifferentiableSampling Request() => new() { Prompts = ["a", "b"], Seeds = [11, 12], GradientSteps = 2 };

    [Fact]
    public void Lora_starts_as_the_base_network_and_trains_only_its_adapters()
    {
        var folder = GenerationFixture.Folder(SmallUNet);
        using var pipeline = DdpmPipeline.Load(new PipelineLoadOptions(folder, "cpu", ScalarType.Float32));
        using var full = Create(pipeline, new TrainingSetup());
        using var lora = Create(pipeline, new TrainingSetup { Kind = TrainableWeightsKind.Lora, LoraRank = 4, LoraAlpha = 4, InitSeed = 5 });
        using (var a = full.Generate([1, 2]))
        using (var b = lora.Generate([1, 2]))
            Assert.True(a.equal(b).all().item<bool>(), "LoRA with B = 0 must sample exactly what the base network samples");
        Assert.All(lora.TrainableParameters, p => Assert.Matches(@"\.(to_q|to_k|to_v|to_out\.0)\.lora_[AB]\.weight$", p.Name));

        lora.Backward(Request(), images => images.mean());
        // B starts at zero, so only B gets a gradient in the first pass (dL/dA = B^T ...).
        foreach (var (name, p) in lora.TrainableParameters)
        {
            var norm = p.grad!.norm().item<float>();
            if (name.Contains(".lora_B.")) Assert.True(norm > 0, $"{name} has no gradient");
            else Assert.Equal(0f, norm);
        }
        Assert.All(lora.Master.named_parameters().Where(p => !p.name.Contains(".lora_")), p => Assert.Null(p.parameter.grad));

        // A trained adapter, merged and saved, reloads as a plain UNet2DModel that samples what the adapted one does.
        using (no_grad())
            foreach (var (_, p) in lora.TrainableParameters) p.add_(randn_like(p) * 0.05);
        var saved = lora.SaveDiffusers(Path.Combine(_temp, "lora-merged"));
        using var reloaded = DdpmPipeline.Load(new PipelineLoadOptions(saved, "cpu", ScalarType.Float32));
        using var adapted = lora.Generate([1, 2]);
        using var merged = reloaded.Generate([1, 2], new SamplingSettings { Steps = 2, Scheduler = "ddim" });
        var diff = (adapted - merged).abs().max().item<float>();
        output.WriteLine($"adapted vs merged-and-reloaded: max |diff| {diff:E2}");
        Assert.True(diff <= 1e-4, $"merged LoRA differs by {diff}");
    }

    [Fact]
    public void Bf16_compute_keeps_float32_masters_whose_gradients_follow_float32()
    {
        var folder = GenerationFixture.Folder(SmallUNet);
        using var pipeline = DdpmPipeline.Load(new PipelineLoadOptions(folder, "cpu", ScalarType.Float32));
        using var fp32 = Create(pipeline, new TrainingSetup());
        using var bf16 = Create(pipeline, new TrainingSetup { ComputeDType = ScalarType.BFloat16 });
        Assert.Equal(ScalarType.BFloat16, bf16.Network.DType);
        fp32.Backward(Request(), images => images.square().mean());
        bf16.Backward(Request(), images => images.square().mean());
        var a = cat(fp32.TrainableParameters.Select(p => p.Parameter.grad!.flatten()).ToArray());
        var b = cat(bf16.TrainableParameters.Select(p => p.Parameter.grad!.flatten()).ToArray());
        Assert.All(bf16.TrainableParameters, p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        Assert.All(bf16.TrainableParameters, p => Assert.Equal(ScalarType.Float32, p.Parameter.grad!.dtype));
        Assert.All(bf16.Network.parameters(), p => Assert.Null(p.grad)); // moved to the masters after the pass
        var cosine = (a * b).sum().item<float>() / (a.norm().item<float>() * b.norm().item<float>());
        var ratio = b.norm().item<float>() / a.norm().item<float>();
        output.WriteLine($"bf16 vs float32 gradient over {a.numel()} values: cosine {cosine:F4}, norm ratio {ratio:F4}");
        // bf16 keeps 8 bits of mantissa and the whole working copy (group norm too) runs in it, through the sampling loop
        // as well, so only the direction and size of the gradient must survive, not its digits (measured: cosine 0.926,
        // 0.987 on the larger ddpm_unet). A transfer that drops, doubles or mis-casts the gradients fails these bounds
        // or the dtype checks above.
        Assert.True(cosine > 0.8, $"bf16 gradients point elsewhere (cosine {cosine})");
        Assert.InRange(ratio, 0.8, 1.25);
    }
}
