using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>
/// diffusers <c>UNet2DConditionModel</c> as used by Stable Diffusion 1.x: ResNet blocks with the timestep embedding,
/// Transformer2DModel blocks cross-attending to the text encoder's hidden states, a cross-attention mid block.
/// Built from <see cref="UNet2DConditionConfig"/>; parameter names are diffusers' state-dict keys.
/// </summary>
public sealed class UNet2DConditionModel : DiffusionModule
{
    private readonly Conv2dLayer conv_in;
    private readonly TimestepEmbeddingMlp time_embedding;
    private readonly ModuleList<UNetDownBlock> down_blocks;
    private readonly UNetMidBlock? mid_block;
    private readonly ModuleList<UNetUpBlock> up_blocks;
    private readonly GroupNormLayer conv_norm_out;
    private readonly Conv2dLayer conv_out;
    private readonly Func<Tensor, Tensor>? _timeEmbedAct;
    private readonly Func<Tensor, Tensor> _convAct;

    public UNet2DConditionModel(UNet2DConditionConfig config) : base(nameof(UNet2DConditionModel))
    {
        config.Validate();
        Config = config;
        var c = config;
        var channels = c.BlockOutChannels;
        var n = channels.Count;
        var temb = c.TimeEmbedDim;
        conv_in = new Conv2dLayer(c.InChannels, channels[0], c.ConvInKernel, padding: (c.ConvInKernel - 1) / 2);
        time_embedding = new TimestepEmbeddingMlp(channels[0], temb, c.ActFn, c.TimestepPostAct);
        _timeEmbedAct = c.TimeEmbeddingActFn is null ? null : DiffusionLayers.Activation(c.TimeEmbeddingActFn);

        ResnetBlock2D Resnet(long inCh, long outCh, double scale = 1.0) =>
            new(inCh, outCh, temb, c.NormNumGroups, c.NormEps, c.ActFn, c.ResnetTimeScaleShift, scale);
        Transformer2DModel Transformer(long ch, int heads, int layers, int crossDim) =>
            new(heads, ch / heads, ch, layers, crossDim, c.NormNumGroups, c.UseLinearProjection);

        down_blocks = new ModuleList<UNetDownBlock>();
        var output = channels[0];
        for (var i = 0; i < n; i++)
        {
            var input = output;
            output = channels[i];
            var final = i == n - 1;
            var cross = c.DownBlockTypes[i] == "CrossAttnDownBlock2D";
            var resnets = new List<ResnetBlock2D>();
            var attentions = new List<nn.Module<Tensor, Tensor?, Tensor>>();
            for (var j = 0; j < c.LayersPerBlock[i]; j++)
            {
                resnets.Add(Resnet(j == 0 ? input : output, output));
                if (cross) attentions.Add(Transformer(output, c.NumAttentionHeads[i], c.TransformerLayersPerBlock[i], c.CrossAttentionDim[i]));
            }
            down_blocks.Add(new UNetDownBlock(resnets, attentions, final ? null : new Downsample2D(output, c.DownsamplePadding)));
        }

        if (c.HasMidBlock)
        {
            var mid = channels[^1];
            mid_block = new UNetMidBlock(
                [Resnet(mid, mid, c.MidBlockScaleFactor), Resnet(mid, mid, c.MidBlockScaleFactor)],
                [Transformer(mid, c.NumAttentionHeads[^1], c.TransformerLayersPerBlock[^1], c.CrossAttentionDim[^1])]);
        }

        up_blocks = new ModuleList<UNetUpBlock>();
        var reversed = channels.Reverse().ToList();
        var reversedHeads = c.NumAttentionHeads.Reverse().ToList();
        var reversedLayers = c.LayersPerBlock.Reverse().ToList();
        var reversedCross = c.CrossAttentionDim.Reverse().ToList();
        var reversedTransformerLayers = c.TransformerLayersPerBlock.Reverse().ToList();
        output = reversed[0];
        for (var i = 0; i < n; i++)
        {
            var prev = output;
            output = reversed[i];
            var input = reversed[Math.Min(i + 1, n - 1)];
            var final = i == n - 1;
            var cross = c.UpBlockTypes[i] == "CrossAttnUpBlock2D";
            var layers = reversedLayers[i] + 1;
            var resnets = new List<ResnetBlock2D>();
            var attentions = new List<nn.Module<Tensor, Tensor?, Tensor>>();
            for (var j = 0; j < layers; j++)
            {
                var skip = j == layers - 1 ? input : output;
                resnets.Add(Resnet((j == 0 ? prev : output) + skip, output));
                if (cross) attentions.Add(Transformer(output, reversedHeads[i], reversedTransformerLayers[i], reversedCross[i]));
            }
            up_blocks.Add(new UNetUpBlock(resnets, attentions, final ? null : new Upsample2D(output)));
        }

        conv_norm_out = new GroupNormLayer(c.NormNumGroups, channels[0], c.NormEps);
        _convAct = DiffusionLayers.Activation(c.ActFn);
        conv_out = new Conv2dLayer(channels[0], c.OutChannels, c.ConvOutKernel, padding: (c.ConvOutKernel - 1) / 2);
        RegisterComponents();
    }

    public UNet2DConditionConfig Config { get; }

    /// <summary>Predicts the model output for latents <paramref name="sample"/> [B, in_channels, h, w] at
    /// <paramref name="timestep"/> (scalar or [B]) given text embeddings <paramref name="encoderHiddenStates"/>
    /// [B, tokens, cross_attention_dim].</summary>
    public Tensor Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates)
    {
        CheckSample(sample, Config.InChannels);
        if (encoderHiddenStates.dim() != 3 || encoderHiddenStates.shape[0] != sample.shape[0])
            throw new ArgumentException($"Text embeddings must be [batch ({sample.shape[0]}), tokens, width], got [{string.Join(", ", encoderHiddenStates.shape)}].", nameof(encoderHiddenStates));
        using var scope = NewDisposeScope();
        var x = sample.to(DType, Device);
        var context = encoderHiddenStates.to(DType, Device);
        if (Config.CenterInputSample) x = 2 * x - 1.0;
        var timesteps = BroadcastTimesteps(timestep, x);
        var tEmb = DiffusionLayers.TimestepEmbedding(timesteps, Config.BlockOutChannels[0], Config.FlipSinToCos, Config.FreqShift).to(DType);
        var emb = time_embedding.forward(tEmb);
        if (_timeEmbedAct is not null) emb = _timeEmbedAct(emb);

        x = conv_in.forward(x);
        var skips = new List<Tensor> { x };
        foreach (var block in down_blocks)
        {
            var (h, blockSkips) = block.Forward(x, emb, context);
            x = h;
            skips.AddRange(blockSkips);
        }
        if (mid_block is not null) x = mid_block.Forward(x, emb, context);
        x = UNet2DModel.UpPath(x, skips, up_blocks, emb, context, Config.SizeDivisor, sample);
        x = conv_out.forward(_convAct(conv_norm_out.forward(x)));
        return x.MoveToOuterDisposeScope();
    }
}
