using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>
/// diffusers <c>UNet2DModel</c>: the pixel-space noise predictor of DDPM/DDIM checkpoints such as
/// google/ddpm-celebahq-256. Built from <see cref="UNet2DConfig"/>; parameter names are diffusers' state-dict keys.
/// Forward passes keep the autograd graph (wrap sampling in no_grad); weights may be cast to fp16/bf16 with
/// <see cref="DiffusionModule.To"/>. The sinusoidal time features are computed in float32 and cast to the weights' dtype.
/// </summary>
public sealed class UNet2DModel : DiffusionModule
{
    private readonly Conv2dLayer conv_in;
    private readonly TimestepEmbeddingMlp time_embedding;
    private readonly ModuleList<UNetDownBlock> down_blocks;
    private readonly UNetMidBlock? mid_block;
    private readonly ModuleList<UNetUpBlock> up_blocks;
    private readonly GroupNormLayer conv_norm_out;
    private readonly Conv2dLayer conv_out;

    public UNet2DModel(UNet2DConfig config) : base(nameof(UNet2DModel))
    {
        config.Validate();
        Config = config;
        var c = config;
        var channels = c.BlockOutChannels;
        var n = channels.Count;
        var temb = c.TimeEmbedDim;
        conv_in = new Conv2dLayer(c.InChannels, channels[0], 3, padding: 1);
        time_embedding = new TimestepEmbeddingMlp(channels[0], temb);

        ResnetBlock2D Resnet(long inCh, long outCh, double scale = 1.0) =>
            new(inCh, outCh, temb, c.NormNumGroups, c.NormEps, c.ActFn, c.ResnetTimeScaleShift, scale);
        Attention SpatialAttention(long ch, int? groups, double scale = 1.0)
        {
            var headDim = c.AttentionHeadDim ?? (int)ch;
            return new Attention(ch, null, ch / headDim, headDim, bias: true, normNumGroups: groups, eps: c.NormEps,
                residualConnection: true, rescaleOutputFactor: scale);
        }

        down_blocks = new ModuleList<UNetDownBlock>();
        var output = channels[0];
        for (var i = 0; i < n; i++)
        {
            var input = output;
            output = channels[i];
            var final = i == n - 1;
            var withAttention = c.DownBlockTypes[i] == "AttnDownBlock2D";
            var resnets = new List<ResnetBlock2D>();
            var attentions = new List<nn.Module<Tensor, Tensor?, Tensor>>();
            for (var j = 0; j < c.LayersPerBlock; j++)
            {
                resnets.Add(Resnet(j == 0 ? input : output, output));
                if (withAttention) attentions.Add(SpatialAttention(output, c.NormNumGroups));
            }
            down_blocks.Add(new UNetDownBlock(resnets, attentions, final ? null : new Downsample2D(output, c.DownsamplePadding)));
        }

        if (c.HasMidBlock)
        {
            var mid = channels[^1];
            // diffusers: attn_norm_num_groups, else the ResNet groups when the time embedding is added (not scale_shift).
            var attnGroups = c.AttnNormNumGroups ?? (c.ResnetTimeScaleShift == TimeScaleShift.Default ? c.NormNumGroups : null);
            var resnets = new List<ResnetBlock2D> { Resnet(mid, mid, c.MidBlockScaleFactor), Resnet(mid, mid, c.MidBlockScaleFactor) };
            var attentions = c.AddAttention
                ? new List<nn.Module<Tensor, Tensor?, Tensor>> { SpatialAttention(mid, attnGroups, c.MidBlockScaleFactor) }
                : [];
            mid_block = new UNetMidBlock(resnets, attentions);
        }

        up_blocks = new ModuleList<UNetUpBlock>();
        var reversed = channels.Reverse().ToList();
        output = reversed[0];
        for (var i = 0; i < n; i++)
        {
            var prev = output;
            output = reversed[i];
            var input = reversed[Math.Min(i + 1, n - 1)];
            var final = i == n - 1;
            var withAttention = c.UpBlockTypes[i] == "AttnUpBlock2D";
            var layers = c.LayersPerBlock + 1;
            var resnets = new List<ResnetBlock2D>();
            var attentions = new List<nn.Module<Tensor, Tensor?, Tensor>>();
            for (var j = 0; j < layers; j++)
            {
                var skip = j == layers - 1 ? input : output;
                var resIn = j == 0 ? prev : output;
                resnets.Add(Resnet(resIn + skip, output));
                if (withAttention) attentions.Add(SpatialAttention(output, c.NormNumGroups));
            }
            up_blocks.Add(new UNetUpBlock(resnets, attentions, final ? null : new Upsample2D(output)));
        }

        conv_norm_out = new GroupNormLayer(c.NormNumGroups, channels[0], c.NormEps);
        conv_out = new Conv2dLayer(channels[0], c.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public UNet2DConfig Config { get; }

    /// <summary>Paths of the attention blocks that diffusers builds with <c>_from_deprecated_attn_block</c> (their
    /// old checkpoints name the projections query/key/value/proj_attn).</summary>
    public override IEnumerable<string> DeprecatedAttentionPaths
    {
        get
        {
            for (var i = 0; i < Config.BlockOutChannels.Count; i++)
            {
                if (Config.DownBlockTypes[i] == "AttnDownBlock2D")
                    for (var j = 0; j < Config.LayersPerBlock; j++) yield return $"down_blocks.{i}.attentions.{j}";
                if (Config.UpBlockTypes[i] == "AttnUpBlock2D")
                    for (var j = 0; j <= Config.LayersPerBlock; j++) yield return $"up_blocks.{i}.attentions.{j}";
            }
            if (Config.HasMidBlock && Config.AddAttention) yield return "mid_block.attentions.0";
        }
    }

    /// <summary>Predicts the model output (noise for epsilon-prediction checkpoints) for <paramref name="sample"/>
    /// [B, in_channels, H, W] at <paramref name="timestep"/> (a scalar or one value per item; fractional allowed).</summary>
    public Tensor Forward(Tensor sample, Tensor timestep)
    {
        CheckSample(sample, Config.InChannels);
        using var scope = NewDisposeScope();
        var x = sample.to(DType, Device);
        if (Config.CenterInputSample) x = 2 * x - 1.0;
        var timesteps = BroadcastTimesteps(timestep, x);
        var tEmb = DiffusionLayers.TimestepEmbedding(timesteps, Config.BlockOutChannels[0], Config.FlipSinToCos, Config.FreqShift).to(DType);
        var emb = time_embedding.forward(tEmb);

        x = conv_in.forward(x);
        var skips = new List<Tensor> { x };
        foreach (var block in down_blocks)
        {
            var (h, blockSkips) = block.Forward(x, emb, null);
            x = h;
            skips.AddRange(blockSkips);
        }
        if (mid_block is not null) x = mid_block.Forward(x, emb, null);
        x = UpPath(x, skips, up_blocks, emb, null, Config.SizeDivisor, sample);
        x = conv_out.forward(nn.functional.silu(conv_norm_out.forward(x)));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Runs the up blocks, handing each its skip tensors and, when the input size is not a multiple of the
    /// UNet's downsampling factor, the size each upsampler must produce (diffusers' forward_upsample_size).</summary>
    internal static Tensor UpPath(Tensor x, List<Tensor> skips, ModuleList<UNetUpBlock> blocks, Tensor emb, Tensor? encoderHidden, int divisor, Tensor sample)
    {
        var forwardSize = sample.shape[^2] % divisor != 0 || sample.shape[^1] % divisor != 0;
        foreach (var block in blocks)
        {
            var mine = skips.GetRange(skips.Count - block.ResnetCount, block.ResnetCount);
            skips.RemoveRange(skips.Count - block.ResnetCount, block.ResnetCount);
            long[]? size = forwardSize && block.HasUpsampler && skips.Count > 0 ? [skips[^1].shape[2], skips[^1].shape[3]] : null;
            x = block.Forward(x, mine, emb, encoderHidden, size);
        }
        return x;
    }
}
