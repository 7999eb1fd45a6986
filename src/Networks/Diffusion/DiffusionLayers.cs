using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

// Leaf layers of the diffusion networks. Parameters are allocated uninitialised (torch.empty): a checkpoint overwrites
// every one of them, and PyTorch-style random initialisation of an 860M-parameter UNet would cost seconds for nothing
// (benchmarks with random weights call DiffusionWeights.Randomize instead). Field names are diffusers' parameter names.

/// <summary>torch.nn.Conv2d (weight [out, in, k, k], optional bias) with symmetric zero padding.</summary>
public sealed class Conv2dLayer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly long _stride;
    private readonly long _padding;

    public Conv2dLayer(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool hasBias = true)
        : base(nameof(Conv2dLayer))
    {
        weight = new Parameter(empty(outChannels, inChannels, kernelSize, kernelSize));
        bias = hasBias ? new Parameter(empty(outChannels)) : null;
        _stride = stride;
        _padding = padding;
        RegisterComponents();
    }

    public Parameter Weight => weight;

    public override Tensor forward(Tensor input) =>
        nn.functional.conv2d(input, weight, bias, strides: [_stride, _stride], padding: [_padding, _padding]);
}

/// <summary>torch.nn.GroupNorm with affine weight and bias.</summary>
public sealed class GroupNormLayer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long _groups;
    private readonly double _eps;

    public GroupNormLayer(long groups, long channels, double eps) : base(nameof(GroupNormLayer))
    {
        if (groups <= 0 || channels % groups != 0)
            throw new ArgumentException($"GroupNorm: {channels} channels are not divisible into {groups} groups.");
        weight = new Parameter(empty(channels));
        bias = new Parameter(empty(channels));
        _groups = groups;
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => nn.functional.group_norm(input, _groups, weight, bias, _eps);
}

/// <summary>torch.nn.LayerNorm over the last dimension with affine weight and bias.</summary>
public sealed class LayerNormLayer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long[] _shape;
    private readonly double _eps;

    public LayerNormLayer(long width, double eps) : base(nameof(LayerNormLayer))
    {
        weight = new Parameter(empty(width));
        bias = new Parameter(empty(width));
        _shape = [width];
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => nn.functional.layer_norm(input, _shape, weight, bias, _eps);
}

public static class DiffusionLayers
{
    /// <summary>diffusers' <c>get_activation</c> names this implementation knows.</summary>
    public static bool IsKnownActivation(string name) => name is "silu" or "swish" or "mish" or "gelu" or "relu";

    public static Func<Tensor, Tensor> Activation(string name) => name switch
    {
        "silu" or "swish" => x => nn.functional.silu(x),
        "mish" => x => nn.functional.mish(x),
        "gelu" => x => nn.functional.gelu(x),
        "relu" => x => nn.functional.relu(x),
        _ => throw new NotSupportedException($"Activation '{name}' is not supported."),
    };

    /// <summary>
    /// diffusers' <c>get_timestep_embedding</c>: sinusoidal features of (possibly fractional) timesteps [N] -> [N, dim]
    /// in float32: exponent = -ln(max_period) * i / (half - freq_shift), [sin, cos] (or [cos, sin] with
    /// <paramref name="flipSinToCos"/>), zero-padded when dim is odd.
    /// </summary>
    public static Tensor TimestepEmbedding(Tensor timesteps, int dim, bool flipSinToCos, double freqShift, double scale = 1, double maxPeriod = 10000)
    {
        if (timesteps.dim() != 1) throw new ArgumentException($"Timesteps must be a 1-D tensor, got [{string.Join(", ", timesteps.shape)}].");
        using var scope = NewDisposeScope();
        var half = dim / 2;
        var exponent = -Math.Log(maxPeriod) * arange(0, half, dtype: ScalarType.Float32, device: timesteps.device);
        exponent = exponent / (half - freqShift);
        var emb = timesteps.unsqueeze(1).to(ScalarType.Float32) * exponent.exp().unsqueeze(0);
        emb = scale * emb;
        emb = cat([emb.sin(), emb.cos()], -1);
        if (flipSinToCos) emb = cat([emb[.., half..], emb[.., ..half]], -1);
        if (dim % 2 == 1) emb = nn.functional.pad(emb, [0, 1, 0, 0]);
        return emb.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers <c>TimestepEmbedding</c>: linear_1 -> act -> linear_2 (-> optional post-activation).</summary>
public sealed class TimestepEmbeddingMlp : nn.Module<Tensor, Tensor>
{
    private readonly BiasBench.Torch.Layers.Linear linear_1;
    private readonly BiasBench.Torch.Layers.Linear linear_2;
    private readonly Func<Tensor, Tensor> _act;
    private readonly Func<Tensor, Tensor>? _postAct;

    public TimestepEmbeddingMlp(long inChannels, long timeEmbedDim, string actFn = "silu", string? postActFn = null) : base(nameof(TimestepEmbeddingMlp))
    {
        linear_1 = new BiasBench.Torch.Layers.Linear(inChannels, timeEmbedDim);
        linear_2 = new BiasBench.Torch.Layers.Linear(timeEmbedDim, timeEmbedDim);
        _act = DiffusionLayers.Activation(actFn);
        _postAct = postActFn is null ? null : DiffusionLayers.Activation(postActFn);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = linear_2.forward(_act(linear_1.forward(input)));
        if (_postAct is not null) x = _postAct(x);
        return x.MoveToOuterDisposeScope();
    }
}
