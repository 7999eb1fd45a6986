using TorchSharp;

namespace BiasBench.Training;

public enum PrecisionMode
{
    /// <summary>bf16 on CUDA, float32 on CPU.</summary>
    Auto,
    Float32,
    /// <summary>float32 master parameters and optimiser state, bf16 convolutions/matmuls (no loss scaling: bf16 has float32's range).</summary>
    BFloat16,
}

/// <summary>
/// TorchSharp 0.107 has no autocast. Mixed precision here means: parameters, gradients and AdamW moments stay
/// float32; the network casts each weight (and its input) to bf16 for the convolution or matmul, so the heavy work
/// runs on bf16 tensor cores while every update happens in float32; normalisation layers run in float32. On the CPU
/// training runs in float32 (bf16 convolutions there are slow and not what a GPU run does).
/// </summary>
public static class MixedPrecision
{
    public static torch.ScalarType? ComputeDType(PrecisionMode mode, torch.Device device) => mode switch
    {
        PrecisionMode.Float32 => null,
        PrecisionMode.BFloat16 => torch.ScalarType.BFloat16,
        _ => device.type == DeviceType.CUDA ? torch.ScalarType.BFloat16 : null,
    };

    public static string Describe(torch.ScalarType? dtype) => dtype is null ? "float32" : "bf16 compute, float32 master weights";
}
