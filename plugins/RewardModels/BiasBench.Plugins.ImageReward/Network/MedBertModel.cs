using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Network;

/// <summary>
/// BLIP's <c>models/med.py</c> BertModel as ImageReward calls it (<c>mode='multimodal'</c>, no pooler):
/// embeddings = LayerNorm(word + absolute position) — med's BertEmbeddings has no token-type embedding —, then per
/// layer: post-norm self-attention, cross-attention whose keys/values are projected from the image tokens
/// (<c>encoder_width</c> wide), and the GELU feed-forward. Padding is masked with med's additive -10000.
/// </summary>
internal sealed class MedBertModel : nn.Module
{
    private readonly TextConfig _config;
    private readonly BertEmbeddings _embeddings;
    private readonly ModuleList<BertLayer> _layers;

    public MedBertModel(TextConfig config, TensorPlacement placement) : base(nameof(MedBertModel))
    {
        _config = config;
        _embeddings = new BertEmbeddings(config, placement);
        _layers = new ModuleList<BertLayer>(Enumerable.Range(0, config.NumLayers).Select(_ => new BertLayer(config, placement)).ToArray());
        var encoder = new LayerStack(_layers);
        register_module("embeddings", _embeddings);
        register_module("encoder", encoder);
    }

    /// <summary>
    /// <paramref name="inputIds"/>, <paramref name="attentionMask"/>: [N, L] int64 (mask 1 = token, 0 = padding).
    /// <paramref name="imageEmbeds"/>: [N, T, encoder_width]; every image token is attended to (ImageReward passes
    /// an all-ones <c>image_atts</c>, whose additive mask is zero). Returns the last hidden state [N, L, hidden].
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor imageEmbeds)
    {
        if (inputIds.dim() != 2) throw new ArgumentException($"input_ids must be [N, L], got [{string.Join(", ", inputIds.shape)}].");
        if (!attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"attention_mask [{string.Join(", ", attentionMask.shape)}] must match input_ids [{string.Join(", ", inputIds.shape)}].");
        if (imageEmbeds.dim() != 3 || imageEmbeds.shape[0] != inputIds.shape[0] || imageEmbeds.shape[2] != _config.EncoderWidth)
            throw new ArgumentException($"image embeds must be [{inputIds.shape[0]}, T, {_config.EncoderWidth}], got [{string.Join(", ", imageEmbeds.shape)}].");
        if (inputIds.shape[1] > _config.MaxPositionEmbeddings)
            throw new ArgumentException($"{inputIds.shape[1]} tokens exceed max_position_embeddings {_config.MaxPositionEmbeddings}.");

        using var scope = NewDisposeScope();
        var hidden = _embeddings.Forward(inputIds);
        // get_extended_attention_mask (encoder): [N, 1, 1, L], (1 - mask) * -10000 in the model's dtype.
        var additiveMask = (1.0 - attentionMask.to(hidden.dtype)).mul(-10000.0).unsqueeze(1).unsqueeze(1);
        foreach (var layer in _layers) hidden = layer.Forward(hidden, additiveMask, imageEmbeds);
        return hidden.MoveToOuterDisposeScope();
    }

    /// <summary>Gives the layers the names <c>encoder.layer.N</c>.</summary>
    private sealed class LayerStack : nn.Module
    {
        public LayerStack(ModuleList<BertLayer> layers) : base("BertEncoder") => register_module("layer", layers);
    }

    private sealed class BertEmbeddings : nn.Module
    {
        private readonly EmbeddingLayer _word;
        private readonly EmbeddingLayer _position;
        private readonly LayerNormLayer _norm;

        public BertEmbeddings(TextConfig config, TensorPlacement placement) : base(nameof(BertEmbeddings))
        {
            _word = new EmbeddingLayer(config.VocabSize, config.HiddenSize, placement);
            _position = new EmbeddingLayer(config.MaxPositionEmbeddings, config.HiddenSize, placement);
            _norm = new LayerNormLayer(config.HiddenSize, config.LayerNormEps, placement);
            register_module("word_embeddings", _word);
            register_module("position_embeddings", _position);
            register_module("LayerNorm", _norm);
        }

        public Tensor Forward(Tensor inputIds)
        {
            var vocab = _word.Count;
            // Out-of-range ids would otherwise surface as an opaque native index error.
            if (inputIds.numel() > 0 && (inputIds.min().item<long>() < 0 || inputIds.max().item<long>() >= vocab))
                throw new ArgumentException($"input_ids must lie in [0, {vocab}); got [{inputIds.min().item<long>()}, {inputIds.max().item<long>()}].");
            var positions = arange(inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
            var embeddings = _word.Forward(inputIds) + _position.Forward(positions);
            return _norm.Forward(embeddings);
        }
    }

    private sealed class BertLayer : nn.Module
    {
        private readonly BertAttention _attention;
        private readonly BertAttention _crossAttention;
        private readonly LinearLayer _intermediate;
        private readonly BertOutput _output;
        private readonly Func<Tensor, Tensor> _activation;

        public BertLayer(TextConfig config, TensorPlacement placement) : base(nameof(BertLayer))
        {
            _attention = new BertAttention(config, config.HiddenSize, placement);
            _crossAttention = new BertAttention(config, config.EncoderWidth, placement);
            _intermediate = new LinearLayer(config.HiddenSize, config.IntermediateSize, true, placement);
            _output = new BertOutput(config.IntermediateSize, config, placement);
            _activation = Activations.Resolve(config.HiddenAct, "text config");
            register_module("attention", _attention);
            register_module("crossattention", _crossAttention);
            register_module("intermediate", new DenseHolder(_intermediate));
            register_module("output", _output);
        }

        public Tensor Forward(Tensor hidden, Tensor additiveMask, Tensor imageEmbeds)
        {
            var attended = _attention.Forward(hidden, hidden, additiveMask);
            attended = _crossAttention.Forward(attended, imageEmbeds, null);
            var intermediate = _activation(_intermediate.Forward(attended));
            return _output.Forward(intermediate, attended);
        }
    }

    /// <summary>Gives BertIntermediate's linear the name <c>intermediate.dense</c>.</summary>
    private sealed class DenseHolder : nn.Module
    {
        public DenseHolder(LinearLayer dense) : base("BertIntermediate") => register_module("dense", dense);
    }

    /// <summary>BertAttention = BertSelfAttention (<c>self</c>) + BertSelfOutput (<c>output</c>).</summary>
    private sealed class BertAttention : nn.Module
    {
        private readonly SelfAttention _self;
        private readonly BertOutput _output;

        public BertAttention(TextConfig config, int keyValueWidth, TensorPlacement placement) : base(nameof(BertAttention))
        {
            _self = new SelfAttention(config, keyValueWidth, placement);
            _output = new BertOutput(config.HiddenSize, config, placement);
            register_module("self", _self);
            register_module("output", _output);
        }

        public Tensor Forward(Tensor hidden, Tensor keyValueSource, Tensor? additiveMask) =>
            _output.Forward(_self.Forward(hidden, keyValueSource, additiveMask), hidden);
    }

    private sealed class SelfAttention : nn.Module
    {
        private readonly LinearLayer _query;
        private readonly LinearLayer _key;
        private readonly LinearLayer _value;
        private readonly int _heads;
        private readonly int _headSize;

        public SelfAttention(TextConfig config, int keyValueWidth, TensorPlacement placement) : base("BertSelfAttention")
        {
            _heads = config.NumHeads;
            _headSize = config.HiddenSize / config.NumHeads;
            _query = new LinearLayer(config.HiddenSize, config.HiddenSize, true, placement);
            _key = new LinearLayer(keyValueWidth, config.HiddenSize, true, placement);
            _value = new LinearLayer(keyValueWidth, config.HiddenSize, true, placement);
            register_module("query", _query);
            register_module("key", _key);
            register_module("value", _value);
        }

        private Tensor SplitHeads(Tensor x) => x.view(x.shape[0], x.shape[1], _heads, _headSize).permute(0, 2, 1, 3);

        public Tensor Forward(Tensor hidden, Tensor keyValueSource, Tensor? additiveMask)
        {
            var q = SplitHeads(_query.Forward(hidden));
            var k = SplitHeads(_key.Forward(keyValueSource));
            var v = SplitHeads(_value.Forward(keyValueSource));
            var scores = matmul(q, k.transpose(-1, -2)) / Math.Sqrt(_headSize);
            if (additiveMask is not null) scores = scores + additiveMask;
            var probs = scores.softmax(-1);
            var context = matmul(probs, v).permute(0, 2, 1, 3).contiguous();
            return context.view(context.shape[0], context.shape[1], (long)_heads * _headSize);
        }
    }

    /// <summary>BertSelfOutput / BertOutput: dense, residual, LayerNorm (post-norm).</summary>
    private sealed class BertOutput : nn.Module
    {
        private readonly LinearLayer _dense;
        private readonly LayerNormLayer _norm;

        public BertOutput(int inFeatures, TextConfig config, TensorPlacement placement) : base(nameof(BertOutput))
        {
            _dense = new LinearLayer(inFeatures, config.HiddenSize, true, placement);
            _norm = new LayerNormLayer(config.HiddenSize, config.LayerNormEps, placement);
            register_module("dense", _dense);
            register_module("LayerNorm", _norm);
        }

        public Tensor Forward(Tensor x, Tensor residual) => _norm.Forward(_dense.Forward(x) + residual);
    }
}
