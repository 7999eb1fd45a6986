using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>diffusers VAE <c>Encoder</c>: conv_in, DownEncoderBlock2Ds, attention mid block, norm, SiLU, conv_out to
/// 2 x latent channels (mean and log-variance).</summary>
public sealed class VaeEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2dLayer conv_in;
    private readonly ModuleList<UNetDownBlock> down_blocks;
    private readonly UNetMidBlock mid_block;
    private readonly GroupNormLayer conv_norm_out;
    private readonly Conv2dLayer conv_out;

    public VaeEncoder(AutoencoderKLConfig c) : base(nameof(VaeEncoder))
    {
        const double eps = 1e-6; // diffusers hard-codes the VAE's norm eps
        var ch = c.BlockOutChannels;
        conv_in = new Conv2dLayer(c.InChannels, ch[0], 3, padding: 1);
        down_blocks = new ModuleList<UNetDownBlock>();
        var output = ch[0];
        for (var i = 0; i < ch.Count; i++)
        {
            var input = output;
            output = ch[i];
            var resnets = Enumerable.Range(0, c.LayersPerBlock)
                .Select(j => new ResnetBlock2D(j == 0 ? input : output, output, null, c.NormNumGroups, eps, c.ActFn)).ToList();
            down_blocks.Add(new UNetDownBlock(resnets, [], i == ch.Count - 1 ? null : new Downsample2D(output, padding: 0)));
        }
        mid_block = AutoencoderKL.MidBlock(c, ch[^1]);
        conv_norm_out = new GroupNormLayer(c.NormNumGroups, ch[^1], eps);
        conv_out = new Conv2dLayer(ch[^1], 2 * c.LatentChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var x = conv_in.forward(sample);
        foreach (var block in down_blocks) x = block.Forward(x, null, null).Hidden;
        x = mid_block.Forward(x, null, null);
        x = conv_out.forward(nn.functional.silu(conv_norm_out.forward(x)));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers VAE <c>Decoder</c>: conv_in, attention mid block, UpDecoderBlock2Ds, norm, SiLU, conv_out.</summary>
public sealed class VaeDecoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2dLayer conv_in;
    private readonly UNetMidBlock mid_block;
    private readonly ModuleList<UNetUpBlock> up_blocks;
    private readonly GroupNormLayer conv_norm_out;
    private readonly Conv2dLayer conv_out;

    public VaeDecoder(AutoencoderKLConfig c) : base(nameof(VaeDecoder))
    {
        const double eps = 1e-6;
        var ch = c.BlockOutChannels;
        conv_in = new Conv2dLayer(c.LatentChannels, ch[^1], 3, padding: 1);
        mid_block = AutoencoderKL.MidBlock(c, ch[^1]);
        up_blocks = new ModuleList<UNetUpBlock>();
        var reversed = ch.Reverse().ToList();
        var output = reversed[0];
        for (var i = 0; i < ch.Count; i++)
        {
            var prev = output;
            output = reversed[i];
            var resnets = Enumerable.Range(0, c.LayersPerBlock + 1)
                .Select(j => new ResnetBlock2D(j == 0 ? prev : output, output, null, c.NormNumGroups, eps, c.ActFn)).ToList();
            up_blocks.Add(new UNetUpBlock(resnets, [], i == ch.Count - 1 ? null : new Upsample2D(output)));
        }
        conv_norm_out = new GroupNormLayer(c.NormNumGroups, ch[0], eps);
        conv_out = new Conv2dLayer(ch[0], c.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var x = conv_in.forward(latents);
        x = mid_block.Forward(x, null, null);
        foreach (var block in up_blocks) x = block.Forward(x, null, null, null);
        x = conv_out.forward(nn.functional.silu(conv_norm_out.forward(x)));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers <c>AutoencoderKL</c>, the Stable Diffusion VAE: <see cref="Encode"/> gives the posterior's mean and
/// log-variance (the encoder is here for image-to-image work), <see cref="Decode"/> maps latents to images in [-1, 1].
/// <see cref="DecodeScaled"/> undoes the pipeline's latent scaling (<c>latents / scaling_factor</c>) first.
/// </summary>
public sealed class AutoencoderKL : DiffusionModule
{
    private readonly VaeEncoder encoder;
    private readonly VaeDecoder decoder;
    private readonly Conv2dLayer? quant_conv;
    private readonly Conv2dLayer? post_quant_conv;

    public AutoencoderKL(AutoencoderKLConfig config) : base(nameof(AutoencoderKL))
    {
        config.Validate();
        Config = config;
        encoder = new VaeEncoder(config);
        decoder = new VaeDecoder(config);
        if (config.UseQuantConv) quant_conv = new Conv2dLayer(2 * config.LatentChannels, 2 * config.LatentChannels, 1);
        if (config.UsePostQuantConv) post_quant_conv = new Conv2dLayer(config.LatentChannels, config.LatentChannels, 1);
        RegisterComponents();
    }

    public AutoencoderKLConfig Config { get; }

    public override IEnumerable<string> DeprecatedAttentionPaths =>
        Config.MidBlockAddAttention ? ["encoder.mid_block.attentions.0", "decoder.mid_block.attentions.0"] : [];

    internal static UNetMidBlock MidBlock(AutoencoderKLConfig c, long channels)
    {
        const double eps = 1e-6;
        var resnets = new List<ResnetBlock2D>
        {
            new(channels, channels, null, c.NormNumGroups, eps, c.ActFn),
            new(channels, channels, null, c.NormNumGroups, eps, c.ActFn),
        };
        // One head as wide as the channels, group-normed, residual: diffusers' attention_head_dim = channels.
        var attentions = c.MidBlockAddAttention
            ? new List<nn.Module<Tensor, Tensor?, Tensor>> { new Attention(channels, null, 1, channels, bias: true, normNumGroups: c.NormNumGroups, eps: eps, residualConnection: true) }
            : [];
        return new UNetMidBlock(resnets, attentions);
    }

    /// <summary>Images [B, 3, H, W] in [-1, 1] -> the posterior's (mean, logvar) [B, latent, H/f, W/f], logvar clamped
    /// to [-30, 20] as diffusers' DiagonalGaussianDistribution.</summary>
    public (Tensor Mean, Tensor LogVar) Encode(Tensor images)
    {
        CheckSample(images, Config.InChannels);
        using var scope = NewDisposeScope();
        var h = encoder.forward(images.to(DType, Device));
        if (quant_conv is not null) h = quant_conv.forward(h);
        var parts = h.chunk(2, 1);
        var mean = parts[0].MoveToOuterDisposeScope();
        var logvar = parts[1].clamp(-30.0, 20.0).MoveToOuterDisposeScope();
        return (mean, logvar);
    }

    /// <summary>A posterior sample mean + exp(logvar / 2) * noise, with explicit noise.</summary>
    public static Tensor SamplePosterior(Tensor mean, Tensor logVar, Tensor noise)
    {
        using var scope = NewDisposeScope();
        return (mean + (0.5 * logVar).exp() * noise.to(mean.dtype, mean.device)).MoveToOuterDisposeScope();
    }

    /// <summary>Latents as the decoder takes them (already divided by the scaling factor) -> images in about [-1, 1].</summary>
    public Tensor Decode(Tensor latents)
    {
        CheckSample(latents, Config.LatentChannels);
        using var scope = NewDisposeScope();
        var z = latents.to(DType, Device);
        if (post_quant_conv is not null) z = post_quant_conv.forward(z);
        return decoder.forward(z).MoveToOuterDisposeScope();
    }

    /// <summary>Diffusion latents -> images in about [-1, 1]: <c>decode(latents / scaling_factor (+ shift_factor))</c>.</summary>
    public Tensor DecodeScaled(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var z = latents / Config.ScalingFactor;
        if (Config.ShiftFactor is { } shift) z = z + shift;
        return Decode(z).MoveToOuterDisposeScope();
    }
}
