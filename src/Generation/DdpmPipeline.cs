using BiasBench.Networks.Diffusion;
using BiasBench.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Generation;

/// <summary>
/// Unconditional pixel-space diffusion (diffusers' DDPMPipeline / DDIMPipeline) for any <c>UNet2DModel</c> folder in the
/// diffusers layout (<c>unet/</c> + <c>scheduler/</c>, e.g. google/ddpm-celebahq-256): x_T = randn per seed, then the
/// scheduler's steps, then <c>(x / 2 + 0.5).clamp(0, 1)</c>.
/// </summary>
public sealed class DdpmPipeline : IDisposable
{
    private DdpmPipeline(string folder, UNet2DModel unet, SchedulerConfig schedulerConfig, IReadOnlyList<string> weightFiles)
    {
        Folder = folder;
        Unet = unet;
        SchedulerConfig = schedulerConfig;
        WeightFiles = weightFiles;
    }

    public string Folder { get; }
    public UNet2DModel Unet { get; }
    public SchedulerConfig SchedulerConfig { get; }
    public IReadOnlyList<string> WeightFiles { get; }
    public Device Device => Unet.Device;
    public ScalarType DType => Unet.DType;

    /// <summary>SHA-256 of the UNet weights (computed on first use).</summary>
    public string WeightsChecksum => _checksum ??= DenoisingLoop.WeightsChecksum(Folder, WeightFiles);
    private string? _checksum;

    /// <summary>[channels, height, width] of one sample (the UNet's in_channels and sample_size).</summary>
    public long[] SampleShape
    {
        get
        {
            var size = Unet.Config.SampleSize ?? throw new InvalidOperationException($"{Folder}: unet/config.json has no sample_size; the image size is unknown.");
            return [Unet.Config.InChannels, size, size];
        }
    }

    /// <summary>Loads <c>unet/</c> (config + weights, fp16/fp32 files alike) and <c>scheduler/scheduler_config.json</c>,
    /// then moves the UNet to <paramref name="options"/>' device and dtype.</summary>
    public static DdpmPipeline Load(PipelineLoadOptions options)
    {
        var folder = Path.GetFullPath(options.Folder);
        var unetFolder = Path.Combine(folder, "unet");
        if (!Directory.Exists(unetFolder))
            throw new DirectoryNotFoundException($"'{folder}' is not a diffusers UNet2DModel folder: it has no unet/ subfolder.");
        var schedulerFile = Path.Combine(folder, "scheduler", "scheduler_config.json");
        if (!File.Exists(schedulerFile)) throw new FileNotFoundException($"'{folder}' has no scheduler/scheduler_config.json.", schedulerFile);
        var schedulerConfig = SchedulerConfig.FromFile(schedulerFile);
        var weights = DiffusionWeights.FindWeights(unetFolder, options.Variant);
        var unet = DiffusionModels.LoadUNet2D(unetFolder, options.Variant);
        try
        {
            unet.To(Backend(options.Device), options.DType);
            return new DdpmPipeline(folder, unet, schedulerConfig, [weights]);
        }
        catch
        {
            unet.Dispose();
            throw;
        }
    }

    internal static Device Backend(string device) => BiasBench.Torch.Backend.TorchBackend.ResolveDevice(device);

    public IDiffusionScheduler CreateScheduler(SamplingSettings settings) => DenoisingLoop.CreateScheduler(SchedulerConfig, settings);

    /// <summary>
    /// One denoising step, shared by sampling (under no_grad) and the differentiable fine-tuning path: the UNet on the
    /// scheduler-scaled sample at step <paramref name="stepIndex"/>, then the scheduler step with the given noise
    /// (required when the step is stochastic). Inputs are not modified.
    /// </summary>
    public SchedulerStepOutput DenoiseStep(IDiffusionScheduler scheduler, DiffusionSchedule schedule, int stepIndex, Tensor sample,
        Tensor? noise = null, SchedulerState? state = null)
    {
        var (modelOutput, output) = DenoiseStep(Unet, scheduler, schedule, stepIndex, sample, noise, state);
        modelOutput.Dispose();
        return output;
    }

    /// <summary>
    /// <see cref="DenoiseStep(IDiffusionScheduler, DiffusionSchedule, int, Tensor, Tensor?, SchedulerState?)"/> with the
    /// given network (a trained copy of this pipeline's UNet), also returning the network's output: the step the
    /// fine-tuning path takes with gradients.
    /// </summary>
    public static (Tensor ModelOutput, SchedulerStepOutput Step) DenoiseStep(UNet2DModel unet, IDiffusionScheduler scheduler, DiffusionSchedule schedule,
        int stepIndex, Tensor sample, Tensor? noise = null, SchedulerState? state = null)
    {
        using var scope = NewDisposeScope();
        var modelOutput = PredictModelOutput(unet, scheduler, schedule, stepIndex, sample);
        var output = scheduler.Step(schedule, stepIndex, modelOutput, sample.to(modelOutput.dtype), noise, state);
        modelOutput.MoveToOuterDisposeScope();
        output.PrevSample.MoveToOuterDisposeScope();
        output.PredOriginalSample?.MoveToOuterDisposeScope();
        output.State?.MoveToOuterDisposeScope();
        return (modelOutput, output);
    }

    /// <summary>The network's output at step <paramref name="stepIndex"/>: the UNet on the scheduler-scaled sample at the
    /// step's timestep.</summary>
    public static Tensor PredictModelOutput(UNet2DModel unet, IDiffusionScheduler scheduler, DiffusionSchedule schedule, int stepIndex, Tensor sample)
    {
        using var scope = NewDisposeScope();
        var input = scheduler.ScaleModelInput(schedule, stepIndex, sample);
        var t = schedule.TimestepTensor(stepIndex, unet.Device);
        return unet.Forward(input, t).MoveToOuterDisposeScope();
    }

    /// <summary>Runs steps [from, to) from <paramref name="sample"/> (see <see cref="DenoisingLoop.Run"/>) with this
    /// pipeline's UNet or <paramref name="network"/> (a trained copy).</summary>
    public Tensor Sample(IDiffusionScheduler scheduler, DiffusionSchedule schedule, Tensor sample, StepNoise? noise, int from = 0, int? to = null,
        UNet2DModel? network = null) =>
        DenoisingLoop.Run(scheduler, schedule, sample, noise, (i, x, n, state) =>
        {
            var (modelOutput, output) = DenoiseStep(network ?? Unet, scheduler, schedule, i, x, n, state);
            modelOutput.Dispose();
            return output;
        }, from, to);

    /// <summary>Images [seeds, 3, H, W] in [0, 1] (float32, CPU), one per seed, under no_grad, with this pipeline's UNet
    /// or <paramref name="network"/> (a trained copy of it).</summary>
    public Tensor Generate(IReadOnlyList<long> seeds, SamplingSettings settings, UNet2DModel? network = null)
    {
        settings.Validate();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var scheduler = CreateScheduler(settings);
        var schedule = scheduler.Schedule(settings.Steps);
        using var noise = new SeededNoise(seeds);
        var net = network ?? Unet;
        var initial = noise.Draw(SampleShape, net.DType, net.Device);
        if (schedule.InitNoiseSigma != 1.0) initial = initial * schedule.InitNoiseSigma;
        var x = Sample(scheduler, schedule, initial, noise.ForSteps(), network: network);
        return DenoisingLoop.ToUnitRange(x).MoveToOuterDisposeScope();
    }

    public void Dispose() => Unet.Dispose();
}
