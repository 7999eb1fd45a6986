using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Networks.Diffusion;
using TorchSharp.Modules;
using BiasBench.Generation;
using BiasBench.Imaging;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.Generators;

/// <summary>What both generators share: settings metadata, PNG encoding with text chunks, provenance.</summary>
public abstract class DiffusionGeneratorBase : IImageGenerator
{
    private readonly string _version;

    protected DiffusionGeneratorBase(string name, string version, string description, DiffusionGeneratorOptions options, ScalarType dtype, ILogger logger)
    {
        Name = name;
        _version = version;
        Description = description;
        Options = options;
        DType = dtype;
        Logger = logger;
        Sampling = options.Sampling();
        Sampling.Validate();
    }

    public string Name { get; }
    public string Description { get; }
    protected DiffusionGeneratorOptions Options { get; }
    protected SamplingSettings Sampling { get; }
    protected ScalarType DType { get; }
    protected ILogger Logger { get; }

    protected abstract string WeightsChecksum { get; }

    public GeneratorInfo Info => new(Name, _version, Description) { WeightsChecksum = WeightsChecksum };

    public int PreferredBatchSize => Options.BatchSize;

    public abstract Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken cancellationToken);

    /// <summary>Settings written into every PNG (text chunks) and its provenance; the scheduler is its diffusers class.</summary>
    protected virtual Dictionary<string, string> Settings(string schedulerClass, GenerationRequest request) => new()
    {
        ["negative_prompt"] = request.NegativePrompt ?? "",
        ["scheduler"] = schedulerClass,
        ["steps"] = Sampling.Steps.ToString(CultureInfo.InvariantCulture),
        ["eta"] = Sampling.Eta.ToString("R", CultureInfo.InvariantCulture),
        ["dtype"] = ImageTensors.DTypeName(DType),
        ["model"] = ModelLabel(Options.Model),
        ["weights_sha256"] = WeightsChecksum,
    };

    /// <summary>"org/name@commit" for a Hugging Face cache snapshot (models--org--name/snapshots/commit), else the folder name.</summary>
    public static string ModelLabel(string folder)
    {
        var parts = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)).Split(Path.DirectorySeparatorChar);
        var repo = Array.FindLastIndex(parts, p => p.StartsWith("models--", StringComparison.Ordinal));
        if (repo >= 0 && repo + 2 < parts.Length && parts[repo + 1] == "snapshots")
            return $"{parts[repo]["models--".Length..].Replace("--", "/", StringComparison.Ordinal)}@{parts[repo + 2]}";
        return parts[^1];
    }

    /// <summary>Images [B, 3, H, W] in [0, 1] -> PNGs with prompt, seed and the settings as text chunks.</summary>
    protected IReadOnlyList<ItemResult<GeneratedImage>> Encode(Tensor images, IReadOnlyList<GenerationRequest> batch, string schedulerClass)
    {
        var rgb = ImageTensors.ToRgbBytes(images);
        var (height, width) = ((int)images.shape[2], (int)images.shape[3]);
        var results = new List<ItemResult<GeneratedImage>>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var request = batch[i];
            var settings = Settings(schedulerClass, request);
            var text = new List<KeyValuePair<string, string>>
            {
                new("prompt", request.Prompt),
                new("seed", request.Seed.ToString(CultureInfo.InvariantCulture)),
                new("generator", $"{Name} {_version}"),
            };
            text.AddRange(settings);
            text.Add(new("software", "BiasBench"));
            var png = PngEncoder.Encode(new RgbImage(width, height, rgb[i]), text);
            var provenance = new ImageProvenance(Name, _version, request.Prompt, request.Seed, settings, DateTimeOffset.UtcNow);
            results.Add(ItemResult<GeneratedImage>.Success(new GeneratedImage(request, png, provenance)));
        }
        return results;
    }

    public abstract void Dispose();
}

/// <summary>
/// The <c>ddpm</c> generator: unconditional pixel-space sampling; the prompt only labels the image. Differentiable
/// (<see cref="IDifferentiableImageGenerator"/>): after <see cref="PrepareTraining"/> it owns a float32 copy of the UNet
/// (the shared pipeline keeps the base weights, which the base penalty uses) and samples with that copy.
/// </summary>
public sealed class DdpmGenerator : DiffusionGeneratorBase, IDifferentiableImageGenerator
{
    public const string GeneratorName = "ddpm";
    private readonly SharedPipelines.Lease<DdpmPipeline> _lease;
    private readonly string? _variant;
    private DdpmTraining? _training;

    public DdpmGenerator(DdpmGeneratorOptions options, string runDevice, ILogger logger)
        : this(options, options.ResolvePlacement(runDevice), logger) { }

    private DdpmGenerator(DdpmGeneratorOptions options, (string Device, ScalarType DType) placement, ILogger logger)
        : base(GeneratorName, GeneratorsPlugin.Version, "Unconditional DDPM/DDIM sampling of a diffusers UNet2DModel (e.g. google/ddpm-celebahq-256)", options, placement.DType, logger)
    {
        _variant = string.IsNullOrWhiteSpace(options.Variant) ? null : options.Variant;
        var load = new PipelineLoadOptions(options.Model, placement.Device, placement.DType, _variant);
        _lease = SharedPipelines.Acquire(load.Key, () =>
        {
            logger.LogInformation("Loading UNet2DModel from {Folder} ({DType} on {Device})", load.Folder, placement.DType, placement.Device);
            return DdpmPipeline.Load(load);
        });
        // Fail now, not at the first batch, when the scheduler name or its config is wrong.
        var scheduler = _lease.Pipeline.CreateScheduler(Sampling);
        _schedulerClass = scheduler.ClassName;
        SamplingSteps = scheduler.Schedule(Sampling.Steps).Count;
    }

    private readonly string _schedulerClass;

    /// <summary>The base weights' SHA-256; once training has started, suffixed with "+trained" (the weights are no longer the file's).</summary>
    protected override string WeightsChecksum => _training is null ? _lease.Pipeline.WeightsChecksum : _lease.Pipeline.WeightsChecksum + "+trained";

    public Device Device => _training?.Device ?? _lease.Pipeline.Device;

    public int SamplingSteps { get; }

    public (int Height, int Width) ImageSize
    {
        get
        {
            var shape = _lease.Pipeline.SampleShape;
            return ((int)shape[1], (int)shape[2]);
        }
    }

    private DdpmTraining Training => _training ?? throw new InvalidOperationException("Call PrepareTraining first.");

    public IReadOnlyList<(string Name, Parameter Parameter)> PrepareTraining(TrainingSetup setup)
    {
        if (_training is not null) throw new InvalidOperationException("This generator is already prepared for training.");
        var pipeline = _lease.Pipeline;
        // The masters are read from the weights file in float32 (not cast from a bf16 pipeline), on the pipeline's device.
        var master = DiffusionModels.LoadUNet2D(Path.Combine(pipeline.Folder, "unet"), _variant);
        try
        {
            master.To(pipeline.Device, ScalarType.Float32);
            _training = new DdpmTraining(master, pipeline.Unet, pipeline.SchedulerConfig, Sampling, setup, pipeline.Folder);
        }
        catch
        {
            master.Dispose();
            throw;
        }
        Logger.LogInformation("{Generator}: training {Kind} ({Count:N0} parameters), compute {DType} on {Device}", Name,
            setup.Kind == TrainableWeightsKind.Lora ? $"LoRA rank {setup.LoraRank} on the attention projections" : "every UNet parameter",
            _training.TrainableParameters.Sum(p => p.Parameter.numel()), setup.ComputeDType is { } d ? ImageTensors.DTypeName(d) : "float32", pipeline.Device);
        return _training.TrainableParameters;
    }

    public DifferentiableSampleResult Backward(DifferentiableSampling request, Func<Tensor, Tensor> objective) => Training.Backward(request, objective);

    public double DenoisingBackward(Tensor images, IReadOnlyList<string> prompts, Generator generator, double weight) =>
        Training.DenoisingBackward(images, generator, weight);

    public IReadOnlyDictionary<string, Tensor> SwapTrainableValues(IReadOnlyDictionary<string, Tensor> values) => Training.SwapTrainableValues(values);

    public string SaveTrained(string directory, IReadOnlyDictionary<string, string>? metadata = null) => Training.SaveDiffusers(directory, metadata);

    public override Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var seeds = batch.Select(r => r.Seed).ToList();
            using var images = _training is { } training ? training.Generate(seeds) : _lease.Pipeline.Generate(seeds, Sampling);
            return Encode(images, batch, _schedulerClass);
        }, cancellationToken);

    public override void Dispose()
    {
        _training?.Dispose();
        _training = null;
        _lease.Dispose();
    }
}

/// <summary>
/// The <c>stable-diffusion</c> generator: SD 1.x text-to-image with classifier-free guidance. Differentiable
/// (<see cref="IDifferentiableImageGenerator"/>): after <see cref="PrepareTraining"/> it owns a float32 copy of the UNet
/// (LoRA on the attention projections by default; the text encoder and VAE stay the shared pipeline's, frozen) and
/// samples with that copy.
/// </summary>
public sealed class StableDiffusionGenerator : DiffusionGeneratorBase, IDifferentiableImageGenerator
{
    public const string GeneratorName = "stable-diffusion";
    private readonly SharedPipelines.Lease<StableDiffusionPipeline> _lease;
    private readonly string _schedulerClass;
    private readonly string? _variant;
    private StableDiffusionTraining? _training;

    public StableDiffusionGenerator(StableDiffusionOptions options, string runDevice, ILogger logger)
        : this(options, options.ResolvePlacement(runDevice), logger) { }

    private StableDiffusionGenerator(StableDiffusionOptions options, (string Device, ScalarType DType) placement, ILogger logger)
        : base(GeneratorName, GeneratorsPlugin.Version, "Stable Diffusion 1.x (diffusers folder) with classifier-free guidance and negative prompts", options, placement.DType, logger)
    {
        _variant = string.IsNullOrWhiteSpace(options.Variant) ? null : options.Variant;
        var load = new PipelineLoadOptions(options.Model, placement.Device, placement.DType, _variant);
        var tokenizer = string.IsNullOrWhiteSpace(options.TokenizerBpePath) ? null : options.TokenizerBpePath;
        _lease = SharedPipelines.Acquire(load.Key + "|" + tokenizer, () =>
        {
            logger.LogInformation("Loading Stable Diffusion from {Folder} ({DType} on {Device})", load.Folder, placement.DType, placement.Device);
            return StableDiffusionPipeline.Load(load, tokenizer);
        });
        var scheduler = _lease.Pipeline.CreateScheduler(Sampling);
        _schedulerClass = scheduler.ClassName;
        SamplingSteps = scheduler.Schedule(Sampling.Steps).Count;
        _lease.Pipeline.LatentShape(Sampling); // size checks before any work
    }

    /// <summary>The base weights' SHA-256; once training has started, suffixed with "+trained".</summary>
    protected override string WeightsChecksum => _training is null ? _lease.Pipeline.WeightsChecksum : _lease.Pipeline.WeightsChecksum + "+trained";

    public Device Device => _training?.Device ?? _lease.Pipeline.Device;

    public int SamplingSteps { get; }

    public (int Height, int Width) ImageSize
    {
        get
        {
            var pipeline = _lease.Pipeline;
            var shape = pipeline.LatentShape(Sampling);
            return ((int)shape[1] * pipeline.VaeScaleFactor, (int)shape[2] * pipeline.VaeScaleFactor);
        }
    }

    /// <summary>LoRA: a full SD UNet with AdamW states and float32 masters does not fit where LoRA does.</summary>
    public TrainableWeightsKind PreferredTrainableWeights => TrainableWeightsKind.Lora;

    private StableDiffusionTraining Training => _training ?? throw new InvalidOperationException("Call PrepareTraining first.");

    /// <summary>Trains LoRA on the UNet's attention projections (self- and cross-attention) when <paramref name="setup"/>
    /// says so, else every UNet weight; the text encoder and the VAE stay frozen.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> PrepareTraining(TrainingSetup setup)
    {
        if (_training is not null) throw new InvalidOperationException("This generator is already prepared for training.");
        var pipeline = _lease.Pipeline;
        // The masters are read from the weights file in float32 (not cast from a reduced-precision pipeline).
        var master = DiffusionModels.LoadUNet2DCondition(Path.Combine(pipeline.Folder, "unet"), _variant);
        try
        {
            master.To(pipeline.Device, ScalarType.Float32);
            _training = new StableDiffusionTraining(pipeline, master, Sampling, setup);
        }
        catch
        {
            master.Dispose();
            throw;
        }
        Logger.LogInformation("{Generator}: training {Kind} ({Count:N0} parameters), compute {DType} on {Device}; text encoder and VAE frozen", Name,
            setup.Kind == TrainableWeightsKind.Lora ? $"LoRA rank {setup.LoraRank} on the UNet's attention projections" : "every UNet parameter",
            _training.TrainableParameters.Sum(p => p.Parameter.numel()), setup.ComputeDType is { } d ? ImageTensors.DTypeName(d) : "float32", pipeline.Device);
        return _training.TrainableParameters;
    }

    public DifferentiableSampleResult Backward(DifferentiableSampling request, Func<Tensor, Tensor> objective) => Training.Backward(request, objective);

    public double DenoisingBackward(Tensor images, IReadOnlyList<string> prompts, Generator generator, double weight) =>
        Training.DenoisingBackward(images, prompts, generator, weight);

    public IReadOnlyDictionary<string, Tensor> SwapTrainableValues(IReadOnlyDictionary<string, Tensor> values) => Training.SwapTrainableValues(values);

    /// <summary>A Stable Diffusion folder (trained UNet, the base model's other components copied) that this generator
    /// loads with <c>model: FOLDER</c>.</summary>
    public string SaveTrained(string directory, IReadOnlyDictionary<string, string>? metadata = null) => Training.SaveDiffusers(directory, metadata);

    protected override Dictionary<string, string> Settings(string schedulerClass, GenerationRequest request)
    {
        var settings = base.Settings(schedulerClass, request);
        settings["guidance_scale"] = Sampling.GuidanceScale.ToString("R", CultureInfo.InvariantCulture);
        return settings;
    }

    public override Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var pipeline = _lease.Pipeline;
            var prompts = batch.Select(r => r.Prompt).ToList();
            var negatives = batch.Select(r => r.NegativePrompt).ToList();
            var seeds = batch.Select(r => r.Seed).ToList();
            var (ids, truncated) = pipeline.Tokenize(prompts);
            ids.Dispose();
            using var images = _training is { } training ? training.Generate(prompts, negatives, seeds) : pipeline.Generate(prompts, negatives, seeds, Sampling);
            var results = Encode(images, batch, _schedulerClass);
            return (IReadOnlyList<ItemResult<GeneratedImage>>)results.Select((r, i) => truncated[i]
                ? ItemResult<GeneratedImage>.Success(r.Value!, $"prompt truncated to {StableDiffusionPipeline.ContextLength} tokens (as diffusers)")
                : r).ToList();
        }, cancellationToken);

    public override void Dispose()
    {
        _training?.Dispose();
        _training = null;
        _lease.Dispose();
    }
}
