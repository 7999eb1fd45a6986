using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Diffusion;

/// <summary>
/// diffusers <c>ResnetBlock2D</c> (pre-norm, no up/down sampling): norm1 -> act -> conv1 (+ time embedding) -> norm2
/// -> act -> conv2, plus the input (through a 1x1 conv_shortcut when the width changes), divided by
/// output_scale_factor. Without <c>temb_channels</c> (the VAE) there is no time_emb_proj.
/// </summary>
public sealed class ResnetBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNormLayer norm1;
    private readonly Conv2dLayer conv1;
    private readonly BiasBench.Torch.Layers.Linear? time_emb_proj;
    private readonly GroupNormLayer norm2;
    private readonly Conv2dLayer conv2;
    private readonly Conv2dLayer? conv_shortcut;
    private readonly Func<Tensor, Tensor> _act;
    private readonly TimeScaleShift _timeScaleShift;
    private readonly double _outputScaleFactor;

    public ResnetBlock2D(long inChannels, long outChannels, long? tembChannels, int groups, double eps, string actFn,
        TimeScaleShift timeScaleShift = TimeScaleShift.Default, double outputScaleFactor = 1.0, int? groupsOut = null) : base(nameof(ResnetBlock2D))
    {
        norm1 = new GroupNormLayer(groups, inChannels, eps);
        conv1 = new Conv2dLayer(inChannels, outChannels, 3, padding: 1);
        if (tembChannels is { } temb)
            time_emb_proj = new BiasBench.Torch.Layers.Linear(temb, timeScaleShift == TimeScaleShift.ScaleShift ? 2 * outChannels : outChannels);
        norm2 = new GroupNormLayer(groupsOut ?? groups, outChannels, eps);
        conv2 = new Conv2dLayer(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) conv_shortcut = new Conv2dLayer(inChannels, outChannels, 1);
        _act = DiffusionLayers.Activation(actFn);
        _timeScaleShift = timeScaleShift;
        _outputScaleFactor = outputScaleFactor;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(_act(norm1.forward(input)));
        Tensor? t = null;
        if (time_emb_proj is not null && temb is not null)
        {
            t = time_emb_proj.forward(_act(temb));
            t = t.view(t.shape[0], t.shape[1], 1, 1);
        }
        if (_timeScaleShift == TimeScaleShift.Default)
        {
            if (t is not null) h = h + t;
            h = norm2.forward(h);
        }
        else
        {
            if (t is null) throw new ArgumentException("A scale_shift ResNet block needs the timestep embedding.");
            var parts = t.chunk(2, 1);
            h = norm2.forward(h) * (1 + parts[0]) + parts[1];
        }
        h = conv2.forward(_act(h));
        var shortcut = conv_shortcut is null ? input : conv_shortcut.forward(input);
        var output = shortcut + h;
        if (_outputScaleFactor != 1.0) output = output / _outputScaleFactor;
        return output.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers <c>Downsample2D</c> with a stride-2 3x3 convolution (<c>conv</c>); padding 0 pads right/bottom by
/// one first, as diffusers does for <c>downsample_padding: 0</c> checkpoints.</summary>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
    private readonly Conv2dLayer conv;
    private readonly int _padding;

    public Downsample2D(long channels, int padding) : base(nameof(Downsample2D))
    {
        conv = new Conv2dLayer(channels, channels, 3, stride: 2, padding: padding);
        _padding = padding;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (_padding != 0) return conv.forward(input);
        using var padded = nn.functional.pad(input, [0, 1, 0, 1], PaddingModes.Constant, 0.0);
        return conv.forward(padded);
    }
}

/// <summary>diffusers <c>Upsample2D</c> with a convolution: nearest-neighbour x2 (or to an explicit size), then 3x3 conv.</summary>
public sealed class Upsample2D : nn.Module<Tensor, long[]?, Tensor>
{
    private readonly Conv2dLayer conv;

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = new Conv2dLayer(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    /// <param name="outputSize">[height, width] to interpolate to (the skip tensor's size when the input is not a
    /// multiple of the UNet's downsampling factor), or null for a factor of 2.</param>
    public override Tensor forward(Tensor input, long[]? outputSize)
    {
        using var scope = NewDisposeScope();
        var up = outputSize is null
            ? nn.functional.interpolate(input, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest)
            : nn.functional.interpolate(input, size: outputSize, mode: InterpolationMode.Nearest);
        return conv.forward(up).MoveToOuterDisposeScope();
    }
}
