using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Clip;

// Building blocks shared by the CLIP image and text towers. Parameters are allocated uninitialised (torch.empty):
// every one of them is overwritten by the checkpoint, and random initialisation of a ViT-H would cost seconds.
// Field names are the module's parameter names; ClipWeightMap maps each checkpoint layout onto them.

/// <summary>y = x W^T (+ b), with W of shape [out, in] as in torch.nn.Linear.</summary>
public sealed class ClipLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    public ClipLinear(long inFeatures, long outFeatures, bool hasBias = true) : base(nameof(ClipLinear))
    {
        weight = new Parameter(empty(outFeatures, inFeatures));
        bias = hasBias ? new Parameter(empty(outFeatures)) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => BiasBench.Torch.Layers.FusedLinear.Apply(input, weight, bias);
}

/// <summary>Layer normalisation over the last dimension with affine weight and bias.</summary>
public sealed class ClipLayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long[] _shape;
    private readonly double _eps;

    public ClipLayerNorm(long width, double eps) : base(nameof(ClipLayerNorm))
    {
        weight = new Parameter(empty(width));
        bias = new Parameter(empty(width));
        _shape = [width];
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => nn.functional.layer_norm(input, _shape, weight, bias, _eps);
}

/// <summary>Multi-head self-attention with one fused QKV projection (open_clip's in_proj layout; the Hugging Face
/// q/k/v projections are concatenated at load time) and PyTorch's fused scaled_dot_product_attention kernel.</summary>
public sealed class ClipAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ClipLinear qkv;
    private readonly ClipLinear @out;
    private readonly long _heads;

    public ClipAttention(long width, long heads) : base(nameof(ClipAttention))
    {
        qkv = new ClipLinear(width, 3 * width);
        @out = new ClipLinear(width, width);
        _heads = heads;
        RegisterComponents();
    }

    /// <param name="input">[batch, tokens, width]</param>
    /// <param name="mask">null (full attention), or a boolean mask broadcastable to [batch, heads, tokens, tokens] where
    /// true means "may attend".</param>
    public override Tensor forward(Tensor input, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var (batch, tokens, width) = (input.shape[0], input.shape[1], input.shape[2]);
        var headDim = width / _heads;
        // [B, L, 3W] -> [3, B, H, L, Dh]: query, key and value in head-major layout for SDPA.
        var qkvHeads = qkv.forward(input).view(batch, tokens, 3, _heads, headDim).permute(2, 0, 3, 1, 4);
        var (q, k, v) = (qkvHeads[0], qkvHeads[1], qkvHeads[2]);
        // Default scale 1/sqrt(head_dim) matches both transformers (head_dim**-0.5) and nn.MultiheadAttention.
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, mask);
        var merged = attended.transpose(1, 2).reshape(batch, tokens, width);
        return @out.forward(merged).MoveToOuterDisposeScope();
    }
}

/// <summary>fc1 -> activation -> fc2.</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly ClipLinear fc1;
    private readonly ClipLinear fc2;
    private readonly ClipActivation _activation;

    public ClipMlp(long width, long hidden, ClipActivation activation) : base(nameof(ClipMlp))
    {
        fc1 = new ClipLinear(width, hidden);
        fc2 = new ClipLinear(hidden, width);
        _activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var hidden = Activate(fc1.forward(input), _activation);
        return fc2.forward(hidden).MoveToOuterDisposeScope();
    }

    public static Tensor Activate(Tensor x, ClipActivation activation) => activation switch
    {
        ClipActivation.Gelu => nn.functional.gelu(x),
        ClipActivation.QuickGelu => x * sigmoid(1.702 * x),
        ClipActivation.GeluTanh => 0.5 * x * (1.0 + tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x.pow(3)))),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, null),
    };
}

/// <summary>Pre-norm residual block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) (CLIP's encoder layer in both layouts).</summary>
public sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ClipLayerNorm ln_1;
    private readonly ClipAttention attn;
    private readonly ClipLayerNorm ln_2;
    private readonly ClipMlp mlp;

    public ClipEncoderLayer(long width, long heads, long mlpWidth, double eps, ClipActivation activation) : base(nameof(ClipEncoderLayer))
    {
        ln_1 = new ClipLayerNorm(width, eps);
        attn = new ClipAttention(width, heads);
        ln_2 = new ClipLayerNorm(width, eps);
        mlp = new ClipMlp(width, mlpWidth, activation);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var x = input + attn.forward(ln_1.forward(input), mask);
        x = x + mlp.forward(ln_2.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>A stack of <see cref="ClipEncoderLayer"/>s.</summary>
public sealed class ClipEncoder : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(int count, long width, long heads, long mlpWidth, double eps, ClipActivation activation) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>();
        for (var i = 0; i < count; i++) layers.Add(new ClipEncoderLayer(width, heads, mlpWidth, eps, activation));
        RegisterComponents();
    }

    public int Count => layers.Count;

    public override Tensor forward(Tensor input, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var x = input;
        foreach (var layer in layers) x = layer.forward(x, mask);
        return x.MoveToOuterDisposeScope();
    }
}
