using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>diffusers <c>GEGLU</c>: proj to twice the width, value * gelu(gate).</summary>
public sealed class Geglu : nn.Module<Tensor, Tensor>
{
    private readonly BiasBench.Torch.Layers.Linear proj;

    public Geglu(long dimIn, long dimOut) : base(nameof(Geglu))
    {
        proj = new BiasBench.Torch.Layers.Linear(dimIn, dimOut * 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var parts = proj.forward(input).chunk(2, -1);
        return (parts[0] * nn.functional.gelu(parts[1])).MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers <c>FeedForward</c> with GEGLU (net.0), dropout (net.1, no parameters) and the output projection (net.2).</summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> net;

    public FeedForward(long dim, int mult = 4)
        : base(nameof(FeedForward))
    {
        var inner = dim * mult;
        net = new ModuleList<nn.Module<Tensor, Tensor>>(new Geglu(dim, inner), nn.Identity(), new BiasBench.Torch.Layers.Linear(inner, dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return net[2].forward(net[0].forward(input)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>BasicTransformerBlock</c> with layer norms (Stable Diffusion 1.x/2.x): self-attention, cross-attention
/// on the text embeddings, GEGLU feed-forward, each pre-normed and residual. The attention projections have no bias.
/// </summary>
public sealed class BasicTransformerBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly LayerNormLayer norm1;
    private readonly Attention attn1;
    private readonly LayerNormLayer norm2;
    private readonly Attention attn2;
    private readonly LayerNormLayer norm3;
    private readonly FeedForward ff;

    public BasicTransformerBlock(long dim, long heads, long headDim, long crossAttentionDim, double normEps = 1e-5) : base(nameof(BasicTransformerBlock))
    {
        norm1 = new LayerNormLayer(dim, normEps);
        attn1 = new Attention(dim, null, heads, headDim, bias: false);
        norm2 = new LayerNormLayer(dim, normEps);
        attn2 = new Attention(dim, crossAttentionDim, heads, headDim, bias: false);
        norm3 = new LayerNormLayer(dim, normEps);
        ff = new FeedForward(dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor? encoderHidden)
    {
        using var scope = NewDisposeScope();
        var x = attn1.forward(norm1.forward(hidden), null) + hidden;
        x = attn2.forward(norm2.forward(x), encoderHidden) + x;
        x = ff.forward(norm3.forward(x)) + x;
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>Transformer2DModel</c> on continuous input (the spatial transformer of SD's cross-attention blocks):
/// GroupNorm (eps 1e-6), proj_in (1x1 conv, or linear with <c>use_linear_projection</c>), transformer blocks over the
/// H*W positions, proj_out, plus the input.
/// </summary>
public sealed class Transformer2DModel : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNormLayer norm;
    private readonly nn.Module<Tensor, Tensor> proj_in;
    private readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly nn.Module<Tensor, Tensor> proj_out;
    private readonly bool _linearProjection;

    public Transformer2DModel(long heads, long headDim, long inChannels, int layers, long crossAttentionDim, int normNumGroups, bool useLinearProjection)
        : base(nameof(Transformer2DModel))
    {
        var inner = heads * headDim;
        norm = new GroupNormLayer(normNumGroups, inChannels, 1e-6);
        proj_in = useLinearProjection ? new BiasBench.Torch.Layers.Linear(inChannels, inner) : new Conv2dLayer(inChannels, inner, 1);
        transformer_blocks = new ModuleList<BasicTransformerBlock>();
        for (var i = 0; i < layers; i++) transformer_blocks.Add(new BasicTransformerBlock(inner, heads, headDim, crossAttentionDim));
        proj_out = useLinearProjection ? new BiasBench.Torch.Layers.Linear(inner, inChannels) : new Conv2dLayer(inner, inChannels, 1);
        _linearProjection = useLinearProjection;
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor? encoderHidden)
    {
        using var scope = NewDisposeScope();
        var (b, h, w) = (hidden.shape[0], hidden.shape[2], hidden.shape[3]);
        var x = norm.forward(hidden);
        long inner;
        if (!_linearProjection)
        {
            x = proj_in.forward(x);
            inner = x.shape[1];
            x = x.permute(0, 2, 3, 1).reshape(b, h * w, inner);
        }
        else
        {
            x = x.permute(0, 2, 3, 1).reshape(b, h * w, x.shape[1]);
            x = proj_in.forward(x);
            inner = x.shape[2];
        }
        foreach (var block in transformer_blocks) x = block.forward(x, encoderHidden);
        if (!_linearProjection)
        {
            x = x.reshape(b, h, w, inner).permute(0, 3, 1, 2).contiguous();
            x = proj_out.forward(x);
        }
        else
        {
            x = proj_out.forward(x);
            x = x.reshape(b, h, w, x.shape[2]).permute(0, 3, 1, 2).contiguous();
        }
        return (x + hidden).MoveToOuterDisposeScope();
    }
}
