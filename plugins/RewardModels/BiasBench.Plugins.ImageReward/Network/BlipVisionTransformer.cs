using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Network;

/// <summary>
/// BLIP's <c>models/vit.py</c> VisionTransformer (timm layout): 16x16 conv patch embedding, a class token, learned
/// position embeddings, pre-norm blocks (LayerNorm eps from the config, 1e-6 in BLIP), exact GELU MLP, final LayerNorm.
/// Returns all tokens ([N, 1 + patches, D]); ImageReward feeds them all to the text encoder's cross-attention.
/// </summary>
internal sealed class BlipVisionTransformer : nn.Module
{
    private readonly VisionConfig _config;
    private readonly PatchEmbedding _patchEmbed;
    private readonly Parameter _clsToken;
    private readonly Parameter _posEmbed;
    private readonly ModuleList<VitBlock> _blocks;
    private readonly LayerNormLayer _norm;

    public BlipVisionTransformer(VisionConfig config, TensorPlacement placement) : base(nameof(BlipVisionTransformer))
    {
        _config = config;
        _patchEmbed = new PatchEmbedding(config, placement);
        _clsToken = ParameterFactory.Create([1, 1, config.EmbedDim], placement.DType, placement.Device);
        _posEmbed = ParameterFactory.Create([1, config.NumPatches + 1, config.EmbedDim], placement.DType, placement.Device);
        _blocks = new ModuleList<VitBlock>(Enumerable.Range(0, config.Depth).Select(_ => new VitBlock(config, placement)).ToArray());
        _norm = new LayerNormLayer(config.EmbedDim, config.NormEps, placement);
        register_module("patch_embed", _patchEmbed);
        register_parameter("cls_token", _clsToken);
        register_parameter("pos_embed", _posEmbed);
        register_module("blocks", _blocks);
        register_module("norm", _norm);
    }

    /// <summary><paramref name="pixels"/>: normalised [N, 3, img_size, img_size].</summary>
    public Tensor Forward(Tensor pixels)
    {
        if (pixels.dim() != 4 || pixels.shape[1] != 3 || pixels.shape[2] != _config.ImageSize || pixels.shape[3] != _config.ImageSize)
            throw new ArgumentException($"The ViT expects pixel values [N, 3, {_config.ImageSize}, {_config.ImageSize}], got [{string.Join(", ", pixels.shape)}].");
        using var scope = NewDisposeScope();
        var batch = pixels.shape[0];
        var x = _patchEmbed.Forward(pixels);
        var cls = _clsToken.expand(batch, -1, -1);
        x = cat([cls, x], 1);
        x = x + _posEmbed;
        foreach (var block in _blocks) x = block.Forward(x);
        return _norm.Forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>timm PatchEmbed: a stride-p conv named <c>proj</c>.</summary>
    private sealed class PatchEmbedding : nn.Module
    {
        private readonly PatchConv _proj;

        public PatchEmbedding(VisionConfig config, TensorPlacement placement) : base(nameof(PatchEmbedding))
        {
            _proj = new PatchConv(config, placement);
            register_module("proj", _proj);
        }

        // [N, D, H/p, W/p] -> [N, patches, D] (timm: flatten(2).transpose(1, 2)).
        public Tensor Forward(Tensor pixels) => _proj.Forward(pixels).flatten(2).transpose(1, 2);
    }

    private sealed class PatchConv : nn.Module
    {
        private readonly Parameter _weight;
        private readonly Parameter _bias;
        private readonly long _patch;

        public PatchConv(VisionConfig config, TensorPlacement placement) : base("Conv2d")
        {
            _patch = config.PatchSize;
            _weight = ParameterFactory.Create([config.EmbedDim, 3, config.PatchSize, config.PatchSize], placement.DType, placement.Device);
            _bias = ParameterFactory.Create([config.EmbedDim], placement.DType, placement.Device);
            register_parameter("weight", _weight);
            register_parameter("bias", _bias);
        }

        public Tensor Forward(Tensor pixels) => nn.functional.conv2d(pixels, _weight, _bias, strides: [_patch, _patch]);
    }

    private sealed class VitBlock : nn.Module
    {
        private readonly LayerNormLayer _norm1;
        private readonly VitAttention _attn;
        private readonly LayerNormLayer _norm2;
        private readonly VitMlp _mlp;

        public VitBlock(VisionConfig config, TensorPlacement placement) : base(nameof(VitBlock))
        {
            _norm1 = new LayerNormLayer(config.EmbedDim, config.NormEps, placement);
            _attn = new VitAttention(config, placement);
            _norm2 = new LayerNormLayer(config.EmbedDim, config.NormEps, placement);
            _mlp = new VitMlp(config, placement);
            register_module("norm1", _norm1);
            register_module("attn", _attn);
            register_module("norm2", _norm2);
            register_module("mlp", _mlp);
        }

        public Tensor Forward(Tensor x)
        {
            x = x + _attn.Forward(_norm1.Forward(x));
            return x + _mlp.Forward(_norm2.Forward(x));
        }
    }

    private sealed class VitAttention : nn.Module
    {
        private readonly LinearLayer _qkv;
        private readonly LinearLayer _proj;
        private readonly int _heads;
        private readonly double _scale;

        public VitAttention(VisionConfig config, TensorPlacement placement) : base(nameof(VitAttention))
        {
            _heads = config.NumHeads;
            _scale = Math.Pow(config.EmbedDim / config.NumHeads, -0.5);
            _qkv = new LinearLayer(config.EmbedDim, 3L * config.EmbedDim, config.QkvBias, placement);
            _proj = new LinearLayer(config.EmbedDim, config.EmbedDim, true, placement);
            register_module("qkv", _qkv);
            register_module("proj", _proj);
        }

        public Tensor Forward(Tensor x)
        {
            var (b, n, c) = (x.shape[0], x.shape[1], x.shape[2]);
            // [B, N, 3C] -> [3, B, heads, N, head_dim]
            var qkv = _qkv.Forward(x).reshape(b, n, 3, _heads, c / _heads).permute(2, 0, 3, 1, 4);
            var (q, k, v) = (qkv[0], qkv[1], qkv[2]);
            var attn = matmul(q, k.transpose(-2, -1)) * _scale;
            attn = attn.softmax(-1);
            var y = matmul(attn, v).transpose(1, 2).reshape(b, n, c);
            return _proj.Forward(y);
        }
    }

    private sealed class VitMlp : nn.Module
    {
        private readonly LinearLayer _fc1;
        private readonly LinearLayer _fc2;

        public VitMlp(VisionConfig config, TensorPlacement placement) : base(nameof(VitMlp))
        {
            _fc1 = new LinearLayer(config.EmbedDim, config.MlpHidden, true, placement);
            _fc2 = new LinearLayer(config.MlpHidden, config.EmbedDim, true, placement);
            register_module("fc1", _fc1);
            register_module("fc2", _fc2);
        }

        public Tensor Forward(Tensor x) => _fc2.Forward(nn.functional.gelu(_fc1.Forward(x)));
    }
}
