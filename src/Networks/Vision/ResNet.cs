using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Vision;

/// <summary>
/// torchvision.models.ResNet (18/34/50 layouts) with torchvision's parameter names: conv1, bn1, layer1..layer4
/// (blocks <c>layerN.i.conv1</c> ..., <c>downsample.0/1</c>), fc. Input: normalised [N, 3, H, W] (any H, W &gt;= 32);
/// output: fc's [N, FcOutputs].
/// </summary>
public sealed class ResNet : nn.Module<Tensor, Tensor>
{
    private readonly ResNetConv conv1;
    private readonly ResNetBatchNorm bn1;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly ResNetLinear fc;
    private readonly ComputePrecision _precision;

    public ResNet(ResNetConfig config, ComputePrecision precision) : base(nameof(ResNet))
    {
        Config = config;
        _precision = precision;
        conv1 = new ResNetConv(3, ResNetConfig.StemWidth, 7, 2, 3, precision);
        bn1 = new ResNetBatchNorm(ResNetConfig.StemWidth);
        long inPlanes = ResNetConfig.StemWidth;
        var stages = new Sequential[4];
        for (var s = 0; s < 4; s++)
        {
            long planes = 64L << s, stride = s == 0 ? 1 : 2;
            var blocks = new List<nn.Module<Tensor, Tensor>>();
            for (var b = 0; b < config.Layers[s]; b++)
            {
                var blockStride = b == 0 ? stride : 1;
                var downsample = b == 0 && (stride != 1 || inPlanes != planes * config.Expansion);
                blocks.Add(config.Block == ResNetBlockKind.Basic
                    ? new ResNetBasicBlock(inPlanes, planes, blockStride, downsample, precision)
                    : new ResNetBottleneck(inPlanes, planes, blockStride, downsample, precision));
                inPlanes = planes * config.Expansion;
            }
            stages[s] = nn.Sequential(blocks.ToArray());
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3]);
        fc = new ResNetLinear(config.FeatureWidth, config.FcOutputs, precision);
        RegisterComponents();
    }

    public ResNetConfig Config { get; }
    public ResNetLinear Fc => fc;

    /// <summary>The pooled features [N, FeatureWidth] (everything before fc).</summary>
    public Tensor Features(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != 3)
            throw new ArgumentException($"ResNet expects images as [N, 3, H, W], got [{string.Join(", ", x.shape)}].", nameof(x));
        using var scope = NewDisposeScope();
        var h = conv1.forward(_precision.Cast(x));
        h = bn1.forward(h).relu_();
        h = nn.functional.max_pool2d(h, [3, 3], [2, 2], [1, 1]);
        h = layer4.forward(layer3.forward(layer2.forward(layer1.forward(h))));
        return nn.functional.adaptive_avg_pool2d(h, [1, 1]).flatten(1).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc.forward(Features(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A ResNet with the hackathon's classifier head: <c>resnet</c> (torchvision ResNet whose fc feeds the head) and
/// <c>final_layers</c> = ReLU, Linear, ReLU, Linear, ... (Linear layers at odd indices). State-dict names are the
/// hackathon's (<c>resnet.layer1.0.conv1.weight</c>, <c>final_layers.1.weight</c>). Without head sizes it is a plain
/// classifier whose logits are fc's output. Returns logits [N, Outputs] in float32.
/// </summary>
public sealed class ResNetClassifier : nn.Module<Tensor, Tensor>
{
    public const string BackbonePrefix = "resnet.";

    private readonly ResNet resnet;
    private readonly Sequential? final_layers;
    private readonly List<ResNetLinear> _head = [];

    public ResNetClassifier(ResNetConfig config) : base(nameof(ResNetClassifier))
    {
        Config = config;
        Precision = new ComputePrecision();
        resnet = new ResNet(config, Precision);
        if (config.HeadSizes.Count > 0)
        {
            var modules = new List<nn.Module<Tensor, Tensor>>();
            long width = config.FcOutputs;
            foreach (var size in config.HeadSizes)
            {
                var linear = new ResNetLinear(width, size, Precision);
                modules.Add(nn.ReLU());
                modules.Add(linear);
                _head.Add(linear);
                width = size;
            }
            final_layers = nn.Sequential(modules.ToArray());
        }
        RegisterComponents();
    }

    public ResNetConfig Config { get; }

    /// <summary>Set <see cref="ComputePrecision.DType"/> to bfloat16 for mixed-precision compute on float32 parameters.</summary>
    public ComputePrecision Precision { get; }

    public ResNet Backbone => resnet;

    /// <summary>Every linear layer (fc, then the head's), for initialisation.</summary>
    public IEnumerable<ResNetLinear> LinearLayers => _head.Prepend(resnet.Fc);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = resnet.forward(x);
        if (final_layers is not null) h = final_layers.forward(h);
        return (h.dtype == ScalarType.Float32 ? h : h.to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }
}
