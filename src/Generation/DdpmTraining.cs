using System.Text.Json;
using System.Text.Json.Nodes;
using BiasBench.Abstractions.Torch;
using BiasBench.Networks.Diffusion;
using BiasBench.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// A trainable copy of a <see cref="UNet2DModel"/> with the differentiable sampling passes of reward fine-tuning
/// (DRaFT-K, DRaFT-LV, ReFL; see <see cref="DiffusionTraining{TNetwork}"/>). Every step is the UNet on the
/// scheduler-scaled sample (<see cref="DdpmPipeline.PredictModelOutput"/>, what sampling calls) and the scheduler step;
/// images are the final sample mapped from [-1, 1] to [0, 1].
/// </summary>
public sealed class DdpmTraining : DiffusionTraining<UNet2DModel>
{
    private readonly string? _sourceFolder;

    /// <param name="master">A float32 copy of the network on its device, owned (and disposed) by this object.</param>
    /// <param name="baseNetwork">The frozen base network (for the base penalty); not owned. Null: no base penalty.</param>
    /// <param name="schedulerConfig">The model's scheduler config (the sampler is built from it with <paramref name="settings"/>).</param>
    /// <param name="sourceFolder">The diffusers folder the weights came from (its config files are copied when saving).</param>
    public DdpmTraining(UNet2DModel master, UNet2DModel? baseNetwork, SchedulerConfig schedulerConfig, SamplingSettings settings, TrainingSetup setup,
        string? sourceFolder = null)
        : base(master, baseNetwork, () => new UNet2DModel(master.Config), schedulerConfig, settings, setup, SampleShapeOf(master))
    {
        _sourceFolder = sourceFolder;
    }

    private static long[] SampleShapeOf(UNet2DModel master)
    {
        ArgumentNullException.ThrowIfNull(master);
        var size = master.Config.SampleSize ?? throw new InvalidOperationException("unet/config.json has no sample_size; the image size is unknown.");
        return [master.Config.InChannels, size, size];
    }

    protected override Tensor? Condition(DifferentiableSampling request) => null;

    protected override Tensor ModelOutput(UNet2DModel network, int stepIndex, Tensor sample, Tensor? conditioning) =>
        DdpmPipeline.PredictModelOutput(network, Scheduler, Schedule, stepIndex, sample);

    protected override Tensor ToImages(Tensor sample) => (sample.to(ScalarType.Float32) / 2 + 0.5).clamp(0, 1);

    /// <summary>The pre-training loss on real images (see <see cref="IDifferentiableImageGenerator.DenoisingBackward"/>).</summary>
    public double DenoisingBackward(Tensor images, Generator generator, double weight)
    {
        if (images.dim() != 4 || !images.shape.Skip(1).SequenceEqual(SampleShape))
            throw new ArgumentException($"Real images must be [N, {string.Join(", ", SampleShape)}] in [0, 1], got [{string.Join(", ", images.shape)}].");
        using var scope = NewDisposeScope();
        var x0 = images.to(ScalarType.Float32, Device) * 2 - 1;
        return DenoisingLoss(x0, generator, weight, (net, noisy, timesteps) => net.Forward(noisy, timesteps));
    }

    /// <summary>Images [seeds, 3, H, W] in [0, 1] (float32, CPU) with the current weights, under no_grad.</summary>
    public Tensor Generate(IReadOnlyList<long> seeds)
    {
        SyncWorking();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var noise = new SeededNoise(seeds);
        var net = Network;
        var initial = noise.Draw(SampleShape, net.DType, net.Device);
        if (Schedule.InitNoiseSigma != 1.0) initial = initial * Schedule.InitNoiseSigma;
        var x = NoGradSteps(net, initial, null, noise.ForSteps(), Schedule.Count);
        return DenoisingLoop.ToUnitRange(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Writes the merged network in the diffusers layout: <c>model_index.json</c>, <c>unet/config.json</c> (the source
    /// folder's, unchanged), <c>unet/diffusion_pytorch_model.safetensors</c> (float32), <c>scheduler/scheduler_config.json</c>.
    /// Written to a temporary folder and renamed, so an interrupted save leaves no half-written model.
    /// </summary>
    public string SaveDiffusers(string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (_sourceFolder is null) throw new InvalidOperationException("This network was not loaded from a diffusers folder; there is no config to save with it.");
        return WriteFolderAtomically(directory, tmp =>
        {
            Directory.CreateDirectory(Path.Combine(tmp, "unet"));
            Directory.CreateDirectory(Path.Combine(tmp, "scheduler"));
            File.Copy(Path.Combine(_sourceFolder, "unet", DiffusionModels.ConfigFile), Path.Combine(tmp, "unet", DiffusionModels.ConfigFile));
            File.Copy(Path.Combine(_sourceFolder, "scheduler", "scheduler_config.json"), Path.Combine(tmp, "scheduler", "scheduler_config.json"));
            var index = Path.Combine(_sourceFolder, "model_index.json");
            if (File.Exists(index)) File.Copy(index, Path.Combine(tmp, "model_index.json"));
            else
            {
                var json = new JsonObject { ["_class_name"] = "DDPMPipeline", ["scheduler"] = new JsonArray("diffusers", SchedulerConfig.ClassName ?? "DDPMScheduler"), ["unet"] = new JsonArray("diffusers", "UNet2DModel") };
                File.WriteAllText(Path.Combine(tmp, "model_index.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            SaveMergedWeights(Path.Combine(tmp, "unet"), metadata);
        });
    }
}
