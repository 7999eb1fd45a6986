using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;
using BiasBench.Generation;
using BiasBench.Torch.Backend;
using static TorchSharp.torch;

namespace BiasBench.Plugins.Generators;

/// <summary>
/// Options of the diffusion generators (YAML keys in snake_case). Load-time options (<see cref="Model"/>,
/// <see cref="Variant"/>, <see cref="Device"/>, <see cref="Dtype"/>) pick the loaded pipeline; the sampling settings
/// (steps, scheduler, eta, guidance, size) are per request, so sweeping them reuses the loaded model.
/// </summary>
public class DiffusionGeneratorOptions : IValidatableObject
{
    /// <summary>The diffusers model folder, or a model name / hub repository found in the Hugging Face cache
    /// (<c>biasbench models download NAME</c>), e.g. google/ddpm-celebahq-256.</summary>
    [Required]
    [ModelWeights]
    public string Model { get; set; } = "";

    /// <summary>Weights variant to load, e.g. fp16 (<c>diffusion_pytorch_model.fp16.safetensors</c>); empty: the plain
    /// files, else the one variant present. Whatever the file's precision, weights are converted to <see cref="Dtype"/>.</summary>
    public string? Variant { get; set; }

    /// <summary>auto, cpu, cuda or cuda:N; empty = the run's device.</summary>
    public string? Device { get; set; }

    /// <summary>float32, float16 or bfloat16; empty = float32 on the CPU, bfloat16 on CUDA.</summary>
    [RegularExpression("^(float32|fp32|float16|fp16|half|bfloat16|bf16)$", ErrorMessage = "dtype must be float32, float16 or bfloat16.")]
    public string? Dtype { get; set; }

    /// <summary>Inference steps.</summary>
    [Range(1, 1000)]
    public int Steps { get; set; } = 50;

    /// <summary>ddim, ddpm, pndm, euler, euler-ancestral, dpmpp-2m (diffusers class names work too); empty = the model's own
    /// scheduler/scheduler_config.json class. Built from that config as diffusers' from_config.</summary>
    public string? Scheduler { get; set; }

    /// <summary>DDIM's eta (0 = deterministic).</summary>
    [Range(0.0, 1.0)]
    public double Eta { get; set; }

    /// <summary>Images per batch.</summary>
    [Range(1, 1024)]
    public int BatchSize { get; set; } = 8;

    public (string Device, ScalarType DType) ResolvePlacement(string runDevice)
    {
        var device = TorchBackend.ResolveDevice(string.IsNullOrWhiteSpace(Device) ? runDevice : Device);
        var onCpu = device.type == TorchSharp.DeviceType.CPU;
        var dtype = string.IsNullOrWhiteSpace(Dtype) ? (onCpu ? ScalarType.Float32 : ScalarType.BFloat16) : ImageTensors.ParseDType(Dtype);
        if (onCpu && dtype == ScalarType.Float16)
            throw new ArgumentException("dtype float16 is not supported on the CPU; use float32 or bfloat16 there.");
        return (device.ToString(), dtype);
    }

    /// <summary>Checked with the config, before any work: the scheduler name must be one the schedulers library knows.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(Scheduler) && !BiasBench.Schedulers.SchedulerFactory.IsKnown(Scheduler))
            yield return new ValidationResult(
                $"unknown scheduler '{Scheduler}' (known: {string.Join(", ", BiasBench.Schedulers.SchedulerFactory.Names.Order(StringComparer.Ordinal))}).",
                [nameof(Scheduler)]);
    }

    public virtual SamplingSettings Sampling() => new() { Steps = Steps, Scheduler = string.IsNullOrWhiteSpace(Scheduler) ? null : Scheduler, Eta = Eta };
}

/// <summary>Options of the <c>ddpm</c> generator (any diffusers UNet2DModel folder: unet/ + scheduler/).</summary>
public sealed class DdpmGeneratorOptions : DiffusionGeneratorOptions;

/// <summary>Options of the <c>stable-diffusion</c> generator (SD 1.x diffusers folder).</summary>
public sealed class StableDiffusionOptions : DiffusionGeneratorOptions
{
    /// <summary>Classifier-free guidance scale (off at 1 or below).</summary>
    [Range(0.0, 100.0)]
    public double GuidanceScale { get; set; } = 7.5;

    /// <summary>Image height in pixels (a multiple of the VAE factor, 8 for SD); empty = the model's default (512 for SD 1.5).</summary>
    [Range(8, 4096)]
    public int? Height { get; set; }

    /// <summary>Image width in pixels; empty = the model's default.</summary>
    [Range(8, 4096)]
    public int? Width { get; set; }

    /// <summary>open_clip's bpe_simple_vocab_16e6.txt.gz, used instead of the model's tokenizer/ folder (same ids).</summary>
    public string? TokenizerBpePath { get; set; }

    public override SamplingSettings Sampling() => base.Sampling() with { GuidanceScale = GuidanceScale, Height = Height, Width = Width };
}
