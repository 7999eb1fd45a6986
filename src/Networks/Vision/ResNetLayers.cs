using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Vision;

/// <summary>
/// The dtype convolutions and linear layers compute in, shared by every layer of one network. Null: the parameters'
/// own dtype. bfloat16 with float32 parameters is mixed precision without autocast (TorchSharp 0.107 has none):
/// each conv/linear casts its weight to bf16 on the fly (a differentiable cast, so gradients land on the float32
/// parameters), and batch norm runs in float32 on the float32 statistics.
/// </summary>
public sealed class ComputePrecision
{
    public ScalarType? DType { get; set; }

    internal Tensor Cast(Tensor t) => DType is { } d && t.dtype != d ? t.to(d) : t;
}

/// <summary>torch.nn.Conv2d without bias (every ResNet conv is followed by batch norm): parameter <c>weight</c>.</summary>
public sealed class ResNetConv : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly long _stride, _padding;
    private readonly ComputePrecision _precision;

    public ResNetConv(long inChannels, long outChannels, long kernel, long stride, long padding, ComputePrecision precision) : base(nameof(ResNetConv))
    {
        weight = new Parameter(empty(outChannels, inChannels, kernel, kernel));
        _stride = stride; _padding = padding; _precision = precision;
        RegisterComponents();
    }

    public Parameter Weight => weight;

    public override Tensor forward(Tensor input) =>
        nn.functional.conv2d(input, _precision.Cast(weight), null, strides: [_stride, _stride], padding: [_padding, _padding]);
}

/// <summary>
/// torch.nn.BatchNorm2d (eps 1e-5, momentum 0.1) with torchvision's names: <c>weight</c>, <c>bias</c>, and the buffers
/// <c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c>. Training mode normalises with the batch
/// statistics and updates the running ones; eval mode uses the running statistics.
/// </summary>
public sealed class ResNetBatchNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly Tensor num_batches_tracked;

    public ResNetBatchNorm(long channels) : base(nameof(ResNetBatchNorm))
    {
        weight = new Parameter(ones(channels));
        bias = new Parameter(zeros(channels));
        running_mean = zeros(channels);
        running_var = ones(channels);
        num_batches_tracked = zeros(Array.Empty<long>(), ScalarType.Int64);
        RegisterComponents();
    }

    public Parameter Weight => weight;
    public Parameter Bias => bias;

    public override Tensor forward(Tensor input)
    {
        if (training)
            using (no_grad()) num_batches_tracked.add_(1);
        if (input.dtype == weight.dtype)
            return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, 0.1, 1e-5);
        // Mixed precision: normalise in the statistics' dtype, hand the activations back in the compute dtype.
        using var wide = input.to(weight.dtype);
        using var normalised = nn.functional.batch_norm(wide, running_mean, running_var, weight, bias, training, 0.1, 1e-5);
        return normalised.to(input.dtype);
    }
}

/// <summary>torchvision's BasicBlock: 3x3 conv (stride) + BN + ReLU, 3x3 conv + BN, identity or downsample, add, ReLU.</summary>
public sealed class ResNetBasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly ResNetConv conv1;
    private readonly ResNetBatchNorm bn1;
    private readonly ResNetConv conv2;
    private readonly ResNetBatchNorm bn2;
    private readonly Sequential? downsample;

    public ResNetBasicBlock(long inPlanes, long planes, long stride, bool withDownsample, ComputePrecision precision) : base(nameof(ResNetBasicBlock))
    {
        conv1 = new ResNetConv(inPlanes, planes, 3, stride, 1, precision);
        bn1 = new ResNetBatchNorm(planes);
        conv2 = new ResNetConv(planes, planes, 3, 1, 1, precision);
        bn2 = new ResNetBatchNorm(planes);
        downsample = withDownsample ? nn.Sequential(new ResNetConv(inPlanes, planes, 1, stride, 0, precision), new ResNetBatchNorm(planes)) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var o = bn1.forward(conv1.forward(x)).relu_();
        o = bn2.forward(conv2.forward(o));
        var identity = downsample is null ? x : downsample.forward(x);
        return o.add_(identity).relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's Bottleneck (ResNet v1.5): 1x1, 3x3 (stride), 1x1 (x4 width), each with BN; ReLU after the add.</summary>
public sealed class ResNetBottleneck : nn.Module<Tensor, Tensor>
{
    private readonly ResNetConv conv1;
    private readonly ResNetBatchNorm bn1;
    private readonly ResNetConv conv2;
    private readonly ResNetBatchNorm bn2;
    private readonly ResNetConv conv3;
    private readonly ResNetBatchNorm bn3;
    private readonly Sequential? downsample;

    public ResNetBottleneck(long inPlanes, long planes, long stride, bool withDownsample, ComputePrecision precision) : base(nameof(ResNetBottleneck))
    {
        conv1 = new ResNetConv(inPlanes, planes, 1, 1, 0, precision);
        bn1 = new ResNetBatchNorm(planes);
        conv2 = new ResNetConv(planes, planes, 3, stride, 1, precision);
        bn2 = new ResNetBatchNorm(planes);
        conv3 = new ResNetConv(planes, planes * 4, 1, 1, 0, precision);
        bn3 = new ResNetBatchNorm(planes * 4);
        downsample = withDownsample ? nn.Sequential(new ResNetConv(inPlanes, planes * 4, 1, stride, 0, precision), new ResNetBatchNorm(planes * 4)) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var o = bn1.forward(conv1.forward(x)).relu_();
        o = bn2.forward(conv2.forward(o)).relu_();
        o = bn3.forward(conv3.forward(o));
        var identity = downsample is null ? x : downsample.forward(x);
        return o.add_(identity).relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>A linear layer on the project's fused path (<see cref="BiasBench.Torch.Layers.FusedLinear"/>) that honours the compute dtype.</summary>
public sealed class ResNetLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly ComputePrecision _precision;

    public ResNetLinear(long inFeatures, long outFeatures, ComputePrecision precision) : base(nameof(ResNetLinear))
    {
        weight = new Parameter(empty(outFeatures, inFeatures));
        bias = new Parameter(empty(outFeatures));
        _precision = precision;
        RegisterComponents();
    }

    public Parameter Weight => weight;
    public Parameter Bias => bias;
    public long InFeatures => weight.shape[1];

    public override Tensor forward(Tensor input) =>
        BiasBench.Torch.Layers.FusedLinear.Apply(input, _precision.Cast(weight), _precision.Cast(bias));
}
