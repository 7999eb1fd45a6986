using BiasBench.Abstractions.Torch;
using BiasBench.Networks.Diffusion;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// A trainable copy of Stable Diffusion's <see cref="UNet2DConditionModel"/> with the differentiable sampling passes of
/// reward fine-tuning (see <see cref="DiffusionTraining{TNetwork}"/>). Every step is the one sampling takes
/// (<see cref="StableDiffusionPipeline.GuidedModelOutput"/>): the UNet conditioned on the request's prompts, with
/// classifier-free guidance at the generator's guidance scale against the negative prompts ("" by default), in every step
/// with or without gradient. Images are the VAE decoder's output on latents / scaling_factor mapped to [0, 1], with the
/// gradient flowing through the decoder. The text encoder and the VAE are the pipeline's, frozen (their parameters get
/// no gradient); only the UNet (LoRA adapters by default, or every weight) trains.
/// </summary>
public sealed class StableDiffusionTraining : DiffusionTraining<UNet2DConditionModel>
{
    private readonly StableDiffusionPipeline _pipeline;

    /// <param name="pipeline">The loaded pipeline: text encoder, VAE, tokenizer, and the base UNet (base penalty). Not owned.</param>
    /// <param name="master">A float32 (float64 for gradient checks) copy of the pipeline's UNet, owned by this object.</param>
    public StableDiffusionTraining(StableDiffusionPipeline pipeline, UNet2DConditionModel master, SamplingSettings settings, TrainingSetup setup)
        : base(master, pipeline.Unet, () => new UNet2DConditionModel(master.Config), pipeline.SchedulerConfig, settings, setup, pipeline.LatentShape(settings))
    {
        _pipeline = pipeline;
        // Frozen encoders: gradients flow through the decoder to the latents, never into its weights. (Sampling runs under
        // no_grad, so the shared pipeline's other users are unaffected.)
        foreach (var p in pipeline.Vae.parameters()) p.requires_grad_(false);
        foreach (var p in pipeline.TextEncoder.parameters()) p.requires_grad_(false);
    }

    public StableDiffusionPipeline Pipeline => _pipeline;

    /// <summary>Pixels per latent along each side.</summary>
    public int VaeScaleFactor => _pipeline.VaeScaleFactor;

    /// <summary>[negative prompts; prompts] embeddings when guidance is on, else the prompts', in the network's dtype.</summary>
    protected override Tensor? Condition(DifferentiableSampling request) => Conditioning(request.Prompts, request.NegativePrompts, Settings.GuidanceScale);

    private Tensor Conditioning(IReadOnlyList<string> prompts, IReadOnlyList<string?>? negatives, double guidanceScale)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return _pipeline.Conditioning(prompts, negatives, guidanceScale).to(Network.DType, Device).MoveToOuterDisposeScope();
    }

    protected override Tensor ModelOutput(UNet2DConditionModel network, int stepIndex, Tensor sample, Tensor? conditioning) =>
        StableDiffusionPipeline.GuidedModelOutput(network, Scheduler, Schedule, stepIndex, sample, conditioning!, Settings.GuidanceScale);

    protected override Tensor ToImages(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var decoded = _pipeline.Vae.DecodeScaled(sample);
        var wide = decoded.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        return (decoded.to(wide) / 2 + 0.5).clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The pre-training loss on real images (see <see cref="IDifferentiableImageGenerator.DenoisingBackward"/>), as
    /// diffusers' train_text_to_image: latents = a sample of the VAE posterior (its noise drawn first from
    /// <paramref name="generator"/>) x scaling_factor, then noise and timesteps from the same generator; the UNet
    /// conditioned on the images' prompts without guidance.
    /// </summary>
    public double DenoisingBackward(Tensor images, IReadOnlyList<string> prompts, Generator generator, double weight)
    {
        var size = SampleShape[1] * VaeScaleFactor;
        var width = SampleShape[2] * VaeScaleFactor;
        if (images.dim() != 4 || images.shape[1] != 3 || images.shape[2] != size || images.shape[3] != width)
            throw new ArgumentException($"Real images must be [N, 3, {size}, {width}] in [0, 1], got [{string.Join(", ", images.shape)}].");
        if (prompts.Count != images.shape[0]) throw new ArgumentException($"{prompts.Count} prompts for {images.shape[0]} real images.");
        using var scope = NewDisposeScope();
        var vae = _pipeline.Vae;
        var wide = Network.DType == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        Tensor latents;
        using (no_grad())
        {
            var (mean, logVar) = vae.Encode(images.to(vae.DType, vae.Device) * 2 - 1);
            var posteriorNoise = randn(mean.shape, dtype: wide, generator: generator);
            var z = AutoencoderKL.SamplePosterior(mean.to(wide), logVar.to(wide), posteriorNoise);
            if (vae.Config.ShiftFactor is { } shift) z = z - shift;
            latents = (z * vae.Config.ScalingFactor).to(Device);
        }
        var conditioning = Conditioning(prompts, null, guidanceScale: 1.0);
        return DenoisingLoss(latents, generator, weight, (net, noisy, timesteps) => net.Forward(noisy, timesteps, conditioning));
    }

    /// <summary>Images [prompts, 3, H, W] in [0, 1] (float32, CPU) with the current weights, under no_grad: prompt i with
    /// seed i, drawn as <see cref="StableDiffusionPipeline.Generate"/> draws them.</summary>
    public Tensor Generate(IReadOnlyList<string> prompts, IReadOnlyList<string?>? negativePrompts, IReadOnlyList<long> seeds)
    {
        if (prompts.Count != seeds.Count) throw new ArgumentException($"{prompts.Count} prompts but {seeds.Count} seeds.");
        SyncWorking();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var noise = new SeededNoise(seeds);
        var net = Network;
        var conditioning = Conditioning(prompts, negativePrompts, Settings.GuidanceScale);
        var latents = noise.Draw(SampleShape, net.DType, net.Device);
        if (Schedule.InitNoiseSigma != 1.0) latents = latents * Schedule.InitNoiseSigma;
        var final = NoGradSteps(net, latents, conditioning, noise.ForSteps(), Schedule.Count);
        return DenoisingLoop.ToUnitRange(_pipeline.Vae.DecodeScaled(final)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Writes a Stable Diffusion folder the <c>stable-diffusion</c> generator loads: <c>unet/</c> with the source's
    /// config.json and the merged float32 weights (LoRA folded in), and every other entry of the base folder
    /// (model_index.json, text_encoder/, tokenizer/, vae/, scheduler/, ...) copied unchanged. Written to a temporary
    /// folder and renamed, so an interrupted save leaves no half-written model.
    /// </summary>
    public string SaveDiffusers(string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var source = _pipeline.Folder;
        var target = Path.GetFullPath(directory);
        if (Path.GetRelativePath(source, target) is var relative && !relative.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(relative))
            throw new ArgumentException($"Cannot save the trained model inside its base model folder '{source}'.");
        return WriteFolderAtomically(target, tmp =>
        {
            foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos())
            {
                if (entry.Name == "unet") continue;
                if (entry is DirectoryInfo dir) CopyDirectory(dir, Path.Combine(tmp, entry.Name));
                else File.Copy(entry.FullName, Path.Combine(tmp, entry.Name));
            }
            var unet = Directory.CreateDirectory(Path.Combine(tmp, "unet")).FullName;
            File.Copy(Path.Combine(source, "unet", DiffusionModels.ConfigFile), Path.Combine(unet, DiffusionModels.ConfigFile));
            SaveMergedWeights(unet, metadata);
        });
    }

    /// <summary>Copies a folder's files (following links, as a Hugging Face cache snapshot's are).</summary>
    private static void CopyDirectory(DirectoryInfo source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var entry in source.EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo dir) CopyDirectory(dir, Path.Combine(target, entry.Name));
            else File.Copy(entry.FullName, Path.Combine(target, entry.Name));
        }
    }
}
