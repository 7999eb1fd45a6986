using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>
/// One down block of a diffusers UNet or VAE encoder: <c>DownBlock2D</c> / <c>DownEncoderBlock2D</c> (ResNets only),
/// <c>AttnDownBlock2D</c> (a self-attention block after each ResNet) or <c>CrossAttnDownBlock2D</c> (a
/// Transformer2DModel after each ResNet), then an optional stride-2 downsampler. The parameter layout
/// (resnets.N, attentions.N, downsamplers.0.conv) is diffusers'.
/// </summary>
public sealed class UNetDownBlock : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<nn.Module<Tensor, Tensor?, Tensor>> attentions;
    private readonly ModuleList<Downsample2D> downsamplers;

    public UNetDownBlock(IReadOnlyList<ResnetBlock2D> resnetBlocks, IReadOnlyList<nn.Module<Tensor, Tensor?, Tensor>> attentionBlocks, Downsample2D? downsampler)
        : base(nameof(UNetDownBlock))
    {
        if (attentionBlocks.Count != 0 && attentionBlocks.Count != resnetBlocks.Count)
            throw new ArgumentException("A down block has either no attention or one attention per ResNet.");
        resnets = new ModuleList<ResnetBlock2D>(resnetBlocks.ToArray());
        attentions = new ModuleList<nn.Module<Tensor, Tensor?, Tensor>>(attentionBlocks.ToArray());
        downsamplers = downsampler is null ? new ModuleList<Downsample2D>() : new ModuleList<Downsample2D>(downsampler);
        RegisterComponents();
    }

    /// <summary>How many skip tensors <see cref="Forward"/> returns (one per ResNet, plus the downsampled one).</summary>
    public int OutputCount => resnets.Count + downsamplers.Count;

    /// <summary>Returns the block's output and the skip tensors the up blocks consume, in order.</summary>
    public (Tensor Hidden, List<Tensor> Skips) Forward(Tensor hidden, Tensor? temb, Tensor? encoderHidden)
    {
        using var scope = NewDisposeScope();
        var skips = new List<Tensor>();
        var x = hidden;
        for (var i = 0; i < resnets.Count; i++)
        {
            x = resnets[i].forward(x, temb);
            if (attentions.Count > 0) x = attentions[i].forward(x, encoderHidden);
            skips.Add(x);
        }
        if (downsamplers.Count > 0)
        {
            x = downsamplers[0].forward(x);
            skips.Add(x);
        }
        MoveOut([x, .. skips]);
        return (x, skips);
    }

    internal static void MoveOut(IEnumerable<Tensor> tensors)
    {
        // A tensor may appear twice (the block output is also its last skip); move each one exactly once.
        foreach (var t in tensors.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>()) t.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One up block: <c>UpBlock2D</c> / <c>UpDecoderBlock2D</c>, <c>AttnUpBlock2D</c> or <c>CrossAttnUpBlock2D</c>. Each
/// ResNet takes the running hidden state concatenated with the most recent unused skip tensor (none in the VAE
/// decoder), then an optional attention; an optional nearest x2 upsampler with a convolution ends the block.
/// </summary>
public sealed class UNetUpBlock : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<nn.Module<Tensor, Tensor?, Tensor>> attentions;
    private readonly ModuleList<Upsample2D> upsamplers;

    public UNetUpBlock(IReadOnlyList<ResnetBlock2D> resnetBlocks, IReadOnlyList<nn.Module<Tensor, Tensor?, Tensor>> attentionBlocks, Upsample2D? upsampler)
        : base(nameof(UNetUpBlock))
    {
        if (attentionBlocks.Count != 0 && attentionBlocks.Count != resnetBlocks.Count)
            throw new ArgumentException("An up block has either no attention or one attention per ResNet.");
        resnets = new ModuleList<ResnetBlock2D>(resnetBlocks.ToArray());
        attentions = new ModuleList<nn.Module<Tensor, Tensor?, Tensor>>(attentionBlocks.ToArray());
        upsamplers = upsampler is null ? new ModuleList<Upsample2D>() : new ModuleList<Upsample2D>(upsampler);
        RegisterComponents();
    }

    /// <summary>Number of skip tensors the block consumes (one per ResNet in a UNet).</summary>
    public int ResnetCount => resnets.Count;

    public bool HasUpsampler => upsamplers.Count > 0;

    /// <param name="skips">The skip tensors for this block (consumed last-first), or null in the VAE decoder.</param>
    /// <param name="upsampleSize">Target [H, W] of the upsampler, or null for a factor of 2.</param>
    public Tensor Forward(Tensor hidden, IReadOnlyList<Tensor>? skips, Tensor? temb, Tensor? encoderHidden, long[]? upsampleSize = null)
    {
        if (skips is not null && skips.Count != resnets.Count)
            throw new ArgumentException($"Up block needs {resnets.Count} skip tensors, got {skips.Count}.");
        using var scope = NewDisposeScope();
        var x = hidden;
        for (var i = 0; i < resnets.Count; i++)
        {
            if (skips is not null) x = cat([x, skips[skips.Count - 1 - i]], 1);
            x = resnets[i].forward(x, temb);
            if (attentions.Count > 0) x = attentions[i].forward(x, encoderHidden);
        }
        if (upsamplers.Count > 0) x = upsamplers[0].forward(x, upsampleSize);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>UNetMidBlock2D</c> (ResNet, then [attention, ResNet] per layer; attention optional) and
/// <c>UNetMidBlock2DCrossAttn</c> (the same with Transformer2DModels).
/// </summary>
public sealed class UNetMidBlock : nn.Module
{
    private readonly ModuleList<nn.Module<Tensor, Tensor?, Tensor>> attentions;
    private readonly ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock(IReadOnlyList<ResnetBlock2D> resnetBlocks, IReadOnlyList<nn.Module<Tensor, Tensor?, Tensor>> attentionBlocks) : base(nameof(UNetMidBlock))
    {
        if (attentionBlocks.Count != 0 && attentionBlocks.Count != resnetBlocks.Count - 1)
            throw new ArgumentException("A mid block has one attention between each pair of ResNets, or none.");
        attentions = new ModuleList<nn.Module<Tensor, Tensor?, Tensor>>(attentionBlocks.ToArray());
        resnets = new ModuleList<ResnetBlock2D>(resnetBlocks.ToArray());
        RegisterComponents();
    }

    public Tensor Forward(Tensor hidden, Tensor? temb, Tensor? encoderHidden)
    {
        using var scope = NewDisposeScope();
        var x = resnets[0].forward(hidden, temb);
        for (var i = 1; i < resnets.Count; i++)
        {
            if (attentions.Count > 0) x = attentions[i - 1].forward(x, encoderHidden);
            x = resnets[i].forward(x, temb);
        }
        return x.MoveToOuterDisposeScope();
    }
}
