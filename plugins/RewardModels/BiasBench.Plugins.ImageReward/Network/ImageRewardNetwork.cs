using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Network;

/// <summary>
/// The ImageReward network with the release's state-dict names: <c>blip.visual_encoder.*</c> (ViT),
/// <c>blip.text_encoder.*</c> (med BERT) and <c>mlp.layers.{0,2,4,6,7}.*</c> (the head; the odd indices are dropouts).
/// Reward = (MLP(CLS hidden state) - mean) / std, as in <c>ImageReward.score</c>.
/// </summary>
public sealed class ImageRewardNetwork : nn.Module
{
    private readonly BlipBackbone _blip;
    private readonly RewardHead _head;

    public ImageRewardNetwork(ImageRewardConfig config, TensorPlacement placement) : base(nameof(ImageRewardNetwork))
    {
        Config = config;
        Placement = placement;
        _blip = new BlipBackbone(config, placement);
        // ImageReward casts the CLS features to float32 (`.float()`) before its MLP; keep the (small) head in fp32.
        _head = new RewardHead(config.Text.HiddenSize, new TensorPlacement(placement.Device, ScalarType.Float32));
        register_module("blip", _blip);
        register_module("mlp", _head);
    }

    public ImageRewardConfig Config { get; }
    public TensorPlacement Placement { get; }

    /// <summary>ViT tokens [N, 1 + patches, D] for normalised pixels [N, 3, S, S].</summary>
    public Tensor ImageEmbeds(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        return _blip.VisualEncoder.Forward(pixelValues.to(Placement.DType, Placement.Device)).MoveToOuterDisposeScope();
    }

    /// <summary>Standardised rewards [N] (float32) from precomputed image embeddings.</summary>
    public Tensor RewardsFromImageEmbeds(Tensor imageEmbeds, Tensor inputIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var device = Placement.Device;
        var hidden = _blip.TextEncoder.Forward(inputIds.to(device), attentionMask.to(device), imageEmbeds.to(Placement.DType, device));
        var cls = hidden.select(1, 0).to(ScalarType.Float32);
        var raw = _head.Forward(cls).squeeze(-1);
        return ((raw - Config.RewardMean) / Config.RewardStd).MoveToOuterDisposeScope();
    }

    /// <summary>Standardised rewards [N] (float32): normalised pixels [N, 3, S, S], BERT ids and mask [N, L].</summary>
    public Tensor Rewards(Tensor pixelValues, Tensor inputIds, Tensor attentionMask)
    {
        if (pixelValues.shape[0] != inputIds.shape[0])
            throw new ArgumentException($"{pixelValues.shape[0]} images but {inputIds.shape[0]} token rows.");
        using var scope = NewDisposeScope();
        var embeds = ImageEmbeds(pixelValues);
        return RewardsFromImageEmbeds(embeds, inputIds, attentionMask).MoveToOuterDisposeScope();
    }

    /// <summary>Every parameter with its state-dict name.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Parameters() =>
        named_parameters().Select(p => (p.name, p.parameter)).ToList();

    private sealed class BlipBackbone : nn.Module
    {
        public BlipBackbone(ImageRewardConfig config, TensorPlacement placement) : base("BLIP_Pretrain")
        {
            VisualEncoder = new BlipVisionTransformer(config.Vision, placement);
            TextEncoder = new MedBertModel(config.Text, placement);
            register_module("visual_encoder", VisualEncoder);
            register_module("text_encoder", TextEncoder);
        }

        public BlipVisionTransformer VisualEncoder { get; }
        public MedBertModel TextEncoder { get; }
    }

    /// <summary>ImageReward's MLP: five linears with no activation between them (dropouts are identity at inference).</summary>
    private sealed class RewardHead : nn.Module
    {
        private static readonly int[] Widths = [1024, 128, 64, 16, 1];
        private static readonly int[] SequentialIndices = [0, 2, 4, 6, 7];
        private readonly LinearLayer[] _linears;

        public RewardHead(int inputSize, TensorPlacement placement) : base("MLP")
        {
            _linears = new LinearLayer[Widths.Length];
            var layers = new NamedChildren("Sequential");
            var previous = inputSize;
            for (var i = 0; i < Widths.Length; i++)
            {
                _linears[i] = new LinearLayer(previous, Widths[i], true, placement);
                layers.Add(SequentialIndices[i].ToString(System.Globalization.CultureInfo.InvariantCulture), _linears[i]);
                previous = Widths[i];
            }
            register_module("layers", layers);
        }

        public Tensor Forward(Tensor x)
        {
            foreach (var linear in _linears) x = linear.Forward(x);
            return x;
        }
    }

    private sealed class NamedChildren(string name) : nn.Module(name)
    {
        public void Add(string childName, nn.Module child) => register_module(childName, child);
    }
}
