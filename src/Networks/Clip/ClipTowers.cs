using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Networks.Clip;

/// <summary>CLIP's ViT image tower: patch embedding, class token, learned positions, pre-norm, encoder, post-norm of the
/// class token, linear projection (no bias). Returns the unnormalised image features [batch, projection].</summary>
public sealed class ClipVisionTransformer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter patch_embedding;
    private readonly Parameter class_embedding;
    private readonly Parameter position_embedding;
    private readonly ClipLayerNorm ln_pre;
    private readonly ClipEncoder encoder;
    private readonly ClipLayerNorm ln_post;
    private readonly ClipLinear projection;

    public ClipVisionTransformer(ClipVisionConfig config, int projectionDim) : base(nameof(ClipVisionTransformer))
    {
        Config = config;
        patch_embedding = new Parameter(empty(config.Width, config.Channels, config.PatchSize, config.PatchSize));
        class_embedding = new Parameter(empty(config.Width));
        position_embedding = new Parameter(empty(config.Positions, config.Width));
        ln_pre = new ClipLayerNorm(config.Width, config.LayerNormEps);
        encoder = new ClipEncoder(config.Layers, config.Width, config.Heads, config.MlpWidth, config.LayerNormEps, config.Activation);
        ln_post = new ClipLayerNorm(config.Width, config.LayerNormEps);
        projection = new ClipLinear(config.Width, projectionDim, hasBias: false);
        RegisterComponents();
    }

    public ClipVisionConfig Config { get; }

    /// <param name="pixelValues">[batch, channels, image_size, image_size], already normalised with CLIP's mean/std.</param>
    public override Tensor forward(Tensor pixelValues)
    {
        var c = Config;
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != c.Channels || pixelValues.shape[2] != c.ImageSize || pixelValues.shape[3] != c.ImageSize)
            throw new ArgumentException($"CLIP image tower expects pixel values of shape [batch, {c.Channels}, {c.ImageSize}, {c.ImageSize}], got [{string.Join(", ", pixelValues.shape)}].", nameof(pixelValues));
        using var scope = NewDisposeScope();
        var batch = pixelValues.shape[0];
        var pixels = pixelValues.to(patch_embedding.dtype, patch_embedding.device);
        // Non-overlapping patches: a stride-P convolution without bias, then [B, W, g, g] -> [B, g*g, W].
        var patches = nn.functional.conv2d(pixels, patch_embedding, null, strides: [c.PatchSize, c.PatchSize]).flatten(2).transpose(1, 2);
        var cls = class_embedding.view(1, 1, c.Width).expand(batch, 1, c.Width);
        var x = cat([cls, patches], 1) + position_embedding;
        x = encoder.forward(ln_pre.forward(x), null);
        var pooled = ln_post.forward(x[.., 0]);
        return projection.forward(pooled).MoveToOuterDisposeScope();
    }
}

/// <summary>CLIP's causal text transformer: token + learned position embeddings, encoder with a causal (and optional
/// padding) mask, final norm, pooling at the end token, linear projection (no bias). Returns unnormalised text
/// features [batch, projection].</summary>
public sealed class ClipTextTransformer : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly Parameter token_embedding;
    private readonly Parameter position_embedding;
    private readonly ClipEncoder encoder;
    private readonly ClipLayerNorm ln_final;
    private readonly ClipLinear? projection;

    /// <param name="projectionDim">Width of the text projection; 0 builds the tower without one (transformers'
    /// <c>CLIPTextModel</c>, e.g. Stable Diffusion's text encoder, which is used for its hidden states).</param>
    public ClipTextTransformer(ClipTextConfig config, int projectionDim) : base(nameof(ClipTextTransformer))
    {
        Config = config;
        token_embedding = new Parameter(empty(config.VocabSize, config.Width));
        position_embedding = new Parameter(empty(config.ContextLength, config.Width));
        encoder = new ClipEncoder(config.Layers, config.Width, config.Heads, config.MlpWidth, config.LayerNormEps, config.Activation);
        ln_final = new ClipLayerNorm(config.Width, config.LayerNormEps);
        if (projectionDim > 0) projection = new ClipLinear(config.Width, projectionDim, hasBias: false);
        RegisterComponents();
    }

    public ClipTextConfig Config { get; }

    /// <summary>The last hidden state after the final layer norm, [batch, tokens, width] (transformers'
    /// <c>last_hidden_state</c>, what Stable Diffusion conditions on).</summary>
    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var (x, _) = Encode(inputIds, attentionMask);
        return x.MoveToOuterDisposeScope();
    }

    /// <param name="inputIds">[batch, tokens] int64 BPE ids, tokens &lt;= context length.</param>
    /// <param name="attentionMask">optional [batch, tokens], 1 for real tokens and 0 for padding (transformers'
    /// convention); open_clip passes none and relies on the causal mask alone.</param>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask)
    {
        if (projection is null) throw new InvalidOperationException("This CLIP text tower was built without a projection; use HiddenStates.");
        using var scope = NewDisposeScope();
        var c = Config;
        var (x, ids) = Encode(inputIds, attentionMask);
        var batch = ids.shape[0];
        var poolIndex = c.Pooling switch
        {
            ClipTextPooling.ArgMaxId => ids.argmax(-1),
            // argmax over a 0/1 tensor returns the first end token (index 0 if there is none, as in transformers).
            ClipTextPooling.FirstEos => ids.eq(c.EosTokenId).to(ScalarType.Int32).argmax(-1),
            _ => throw new InvalidOperationException($"Unknown pooling {c.Pooling}."),
        };
        var pooled = x.gather(1, poolIndex.view(batch, 1, 1).expand(batch, 1, c.Width)).squeeze(1);
        return projection.forward(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>Final-normed hidden states and the ids on the model's device (in the caller's dispose scope).</summary>
    private (Tensor Hidden, Tensor Ids) Encode(Tensor inputIds, Tensor? attentionMask)
    {
        var c = Config;
        if (inputIds.dim() != 2 || inputIds.shape[1] < 1 || inputIds.shape[1] > c.ContextLength)
            throw new ArgumentException($"CLIP text tower expects token ids of shape [batch, tokens] with 1..{c.ContextLength} tokens, got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        if (inputIds.dtype != ScalarType.Int64 && inputIds.dtype != ScalarType.Int32)
            throw new ArgumentException($"CLIP token ids must be int64 or int32, got {inputIds.dtype}.", nameof(inputIds));
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"Attention mask shape [{string.Join(", ", attentionMask.shape)}] differs from the token ids' [{string.Join(", ", inputIds.shape)}].", nameof(attentionMask));

        var (batch, tokens) = (inputIds.shape[0], inputIds.shape[1]);
        var device = token_embedding.device;
        var ids = inputIds.to(ScalarType.Int64, device);
        var x = token_embedding.index_select(0, ids.flatten()).view(batch, tokens, c.Width) + position_embedding[..(int)tokens];

        // Boolean mask, true = may attend: causal, and (when given) never attending to padding keys.
        var mask = ones(tokens, tokens, ScalarType.Bool, device).tril().view(1, 1, tokens, tokens);
        if (attentionMask is not null)
            mask = mask.logical_and(attentionMask.to(device).ne(0).view(batch, 1, 1, tokens));

        x = ln_final.forward(encoder.forward(x, mask));
        return (x, ids);
    }
}
