using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Network;

/// <summary>
/// Parameters are allocated uninitialised (the weights are always loaded from a checkpoint) directly on the target
/// device and dtype, frozen by default: a reward model is a fixed judge, gradients flow to its inputs only.
/// Modules are never moved with <c>.to()</c> after construction, so the fields below always hold the live parameters.
/// </summary>
internal static class ParameterFactory
{
    public static Parameter Create(long[] shape, ScalarType dtype, Device device) =>
        new(empty(shape, dtype, device), requires_grad: false);
}

/// <summary>Shape of the network's tensors: where they live and in which precision.</summary>
public sealed record TensorPlacement(Device Device, ScalarType DType)
{
    public static TensorPlacement CpuFloat32 => new(CPU, ScalarType.Float32);
}

/// <summary>nn.Linear with PyTorch's parameter names (weight [out, in], bias [out]).</summary>
internal sealed class LinearLayer : nn.Module
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;

    public LinearLayer(long inFeatures, long outFeatures, bool hasBias, TensorPlacement placement) : base(nameof(LinearLayer))
    {
        _weight = ParameterFactory.Create([outFeatures, inFeatures], placement.DType, placement.Device);
        register_parameter("weight", _weight);
        if (hasBias)
        {
            _bias = ParameterFactory.Create([outFeatures], placement.DType, placement.Device);
            register_parameter("bias", _bias);
        }
    }

    public Tensor Forward(Tensor x) => BiasBench.Torch.Layers.FusedLinear.Apply(x, _weight, _bias);
}

/// <summary>nn.LayerNorm over the last dimension.</summary>
internal sealed class LayerNormLayer : nn.Module
{
    private readonly Parameter _weight;
    private readonly Parameter _bias;
    private readonly long _size;
    private readonly double _eps;

    public LayerNormLayer(long size, double eps, TensorPlacement placement) : base(nameof(LayerNormLayer))
    {
        _size = size; _eps = eps;
        _weight = ParameterFactory.Create([size], placement.DType, placement.Device);
        _bias = ParameterFactory.Create([size], placement.DType, placement.Device);
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
    }

    public Tensor Forward(Tensor x) => nn.functional.layer_norm(x, [_size], _weight, _bias, _eps);
}

/// <summary>nn.Embedding (lookup only; no padding_idx special-casing is needed at inference).</summary>
internal sealed class EmbeddingLayer : nn.Module
{
    private readonly Parameter _weight;

    public EmbeddingLayer(long count, long dim, TensorPlacement placement) : base(nameof(EmbeddingLayer))
    {
        _weight = ParameterFactory.Create([count, dim], placement.DType, placement.Device);
        register_parameter("weight", _weight);
    }

    public long Count => _weight.shape[0];

    public Tensor Forward(Tensor ids)
    {
        var flat = ids.reshape(-1);
        var rows = _weight.index_select(0, flat);
        var shape = ids.shape.Append(_weight.shape[1]).ToArray();
        return rows.reshape(shape);
    }
}

/// <summary>Hugging Face <c>ACT2FN</c> names used by BERT configs.</summary>
internal static class Activations
{
    public static Func<Tensor, Tensor> Resolve(string name, string source) => name.Trim().ToLowerInvariant() switch
    {
        // HF "gelu" is the exact erf form (GELUActivation), as is nn.GELU() in the ViT.
        "gelu" => x => nn.functional.gelu(x),
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => x => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        "quick_gelu" => x => x * sigmoid(1.702 * x),
        "relu" => x => nn.functional.relu(x),
        "silu" or "swish" => x => nn.functional.silu(x),
        _ => throw new InvalidDataException($"{source}: hidden_act '{name}' is not supported (use gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, relu or silu)."),
    };
}
