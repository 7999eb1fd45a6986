using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>
/// diffusers <c>Attention</c> with its default SDPA processor (<c>AttnProcessor2_0</c>): to_q on the hidden states,
/// to_k/to_v on the encoder states (cross-attention) or the hidden states (self-attention), PyTorch's fused
/// scaled_dot_product_attention with scale 1/sqrt(head_dim), then to_out.0. On 4-D input [B, C, H, W] the spatial
/// positions are the sequence (the UNet/VAE attention blocks, optionally group-normed first, with a residual
/// connection and rescale_output_factor). Every projection goes through the fused linear path.
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNormLayer? group_norm;
    private readonly BiasBench.Torch.Layers.Linear to_q;
    private readonly BiasBench.Torch.Layers.Linear to_k;
    private readonly BiasBench.Torch.Layers.Linear to_v;
    private readonly ModuleList<BiasBench.Torch.Layers.Linear> to_out;
    private readonly long _heads;
    private readonly bool _residual;
    private readonly double _rescaleOutputFactor;

    /// <param name="queryDim">Width of the hidden states (and of the output).</param>
    /// <param name="crossAttentionDim">Width of the encoder states; null for self-attention.</param>
    /// <param name="bias">Whether to_q/to_k/to_v have a bias (true in the UNet2DModel/VAE blocks, false in SD's transformers).</param>
    /// <param name="normNumGroups">A GroupNorm over the channels before the projections (the UNet2DModel/VAE blocks).</param>
    public Attention(long queryDim, long? crossAttentionDim, long heads, long dimHead, bool bias, bool outBias = true,
        int? normNumGroups = null, double eps = 1e-5, bool residualConnection = false, double rescaleOutputFactor = 1.0)
        : base(nameof(Attention))
    {
        if (heads <= 0 || dimHead <= 0) throw new ArgumentException($"Attention needs a positive head count and head width (got {heads} x {dimHead}).");
        var inner = heads * dimHead;
        var kvDim = crossAttentionDim ?? queryDim;
        if (normNumGroups is { } groups) group_norm = new GroupNormLayer(groups, queryDim, eps);
        to_q = new BiasBench.Torch.Layers.Linear(queryDim, inner, bias);
        to_k = new BiasBench.Torch.Layers.Linear(kvDim, inner, bias);
        to_v = new BiasBench.Torch.Layers.Linear(kvDim, inner, bias);
        to_out = new ModuleList<BiasBench.Torch.Layers.Linear>(new BiasBench.Torch.Layers.Linear(inner, queryDim, outBias));
        _heads = heads;
        _residual = residualConnection;
        _rescaleOutputFactor = rescaleOutputFactor;
        RegisterComponents();
    }

    public long Heads => _heads;

    /// <param name="hidden">[B, L, query_dim] or [B, C, H, W].</param>
    /// <param name="encoderHidden">[B, S, cross_attention_dim] for cross-attention, or null.</param>
    public override Tensor forward(Tensor hidden, Tensor? encoderHidden)
    {
        using var scope = NewDisposeScope();
        var residual = hidden;
        var spatial = hidden.dim() == 4;
        long b = hidden.shape[0], c = 0, h = 0, w = 0;
        Tensor x;
        if (spatial)
        {
            (c, h, w) = (hidden.shape[1], hidden.shape[2], hidden.shape[3]);
            // GroupNorm over [B, C, H*W] equals GroupNorm over [B, C, H, W]; diffusers normalises before flattening too.
            var normed = group_norm is null ? hidden : group_norm.forward(hidden);
            x = normed.view(b, c, h * w).transpose(1, 2);
        }
        else
        {
            x = group_norm is null ? hidden : group_norm.forward(hidden.transpose(1, 2)).transpose(1, 2);
        }
        var context = encoderHidden ?? x;
        var q = SplitHeads(to_q.forward(x), b);
        var k = SplitHeads(to_k.forward(context), b);
        var v = SplitHeads(to_v.forward(context), b);
        var attended = nn.functional.scaled_dot_product_attention(q, k, v);
        var merged = attended.transpose(1, 2).reshape(b, -1, attended.shape[1] * attended.shape[3]);
        var output = to_out[0].forward(merged);
        if (spatial) output = output.transpose(-1, -2).reshape(b, c, h, w);
        if (_residual) output = output + residual;
        if (_rescaleOutputFactor != 1.0) output = output / _rescaleOutputFactor;
        return output.MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor x, long batch) => x.view(batch, -1, _heads, x.shape[^1] / _heads).transpose(1, 2);
}
