using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>What the diffusion networks share: placement (device, dtype), the checkpoint quirks the weight loader must
/// know about, and input checks.</summary>
public abstract class DiffusionModule : nn.Module
{
    protected DiffusionModule(string name) : base(name) { }

    public Device Device { get; private set; } = CPU;
    public ScalarType DType { get; private set; } = ScalarType.Float32;

    /// <summary>Module paths of attention blocks whose old checkpoints use query/key/value/proj_attn names.</summary>
    public virtual IEnumerable<string> DeprecatedAttentionPaths => [];

    /// <summary>Number of parameters (elements).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Moves every parameter to <paramref name="device"/> and casts it to <paramref name="dtype"/> (float32,
    /// float16 or bfloat16).</summary>
    public DiffusionModule To(Device device, ScalarType dtype)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            throw new ArgumentException($"Diffusion weights must be a floating-point type, not {dtype}.", nameof(dtype));
        this.to(dtype);
        this.to(device);
        Device = device;
        DType = dtype;
        return this;
    }

    protected static void CheckSample(Tensor sample, int channels)
    {
        if (sample.dim() != 4 || sample.shape[1] != channels)
            throw new ArgumentException($"Expected a sample of shape [batch, {channels}, height, width], got [{string.Join(", ", sample.shape)}].", nameof(sample));
    }

    /// <summary>A scalar or [B] timestep as a [B] tensor on the sample's device (diffusers broadcasts the same way).</summary>
    protected static Tensor BroadcastTimesteps(Tensor timestep, Tensor sample)
    {
        var batch = sample.shape[0];
        var t = timestep.to(sample.device);
        if (t.dim() == 0) return t.reshape(1).expand(batch);
        if (t.dim() == 1 && (t.shape[0] == batch || t.shape[0] == 1)) return t.expand(batch);
        throw new ArgumentException($"Timestep must be a scalar or have one value per item ({batch}), got [{string.Join(", ", t.shape)}].", nameof(timestep));
    }
}
