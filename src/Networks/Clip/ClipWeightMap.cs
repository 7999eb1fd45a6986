namespace BiasBench.Networks.Clip;

/// <summary>How checkpoint tensors become one module parameter.</summary>
public enum WeightTransform
{
    /// <summary>One source tensor, copied as is.</summary>
    Copy,

    /// <summary>Several source tensors concatenated along dimension 0 (Hugging Face q/k/v -> fused QKV).</summary>
    ConcatRows,

    /// <summary>One 2-D source tensor, transposed (open_clip stores projections as [width, embed], used as x @ P).</summary>
    Transpose,
}

/// <summary>Module parameter <paramref name="Target"/> is filled from checkpoint tensor(s) <paramref name="Sources"/>.</summary>
public sealed record WeightBinding(string Target, IReadOnlyList<string> Sources, WeightTransform Transform)
{
    public static WeightBinding Copy(string target, string source) => new(target, [source], WeightTransform.Copy);
}

/// <summary>
/// Maps each checkpoint layout's tensor names onto <see cref="ClipModel"/>'s parameter names, so that both layouts share
/// one implementation. Module names: vision.{patch_embedding, class_embedding, position_embedding, ln_pre, encoder.layers.N.
/// {ln_1, attn.qkv, attn.out, ln_2, mlp.fc1, mlp.fc2}, ln_post, projection}, text.{token_embedding, position_embedding,
/// encoder..., ln_final, projection}, logit_scale.
/// </summary>
public static class ClipWeightMap
{
    public static IReadOnlyList<WeightBinding> For(ClipConfig config) => config.Layout switch
    {
        ClipLayout.HuggingFace => HuggingFace(config),
        ClipLayout.OpenClip => OpenClip(config),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Layout, null),
    };

    /// <summary>Checkpoint tensors that carry no weights and are safely ignored (buffers that older library versions
    /// saved with the state dict and that this implementation recomputes).</summary>
    public static bool IsIgnorable(ClipLayout layout, string name) => layout switch
    {
        ClipLayout.HuggingFace => name is "text_model.embeddings.position_ids" or "vision_model.embeddings.position_ids",
        ClipLayout.OpenClip => name == "attn_mask",
        _ => false,
    };

    private static List<WeightBinding> HuggingFace(ClipConfig config)
    {
        var map = new List<WeightBinding>
        {
            WeightBinding.Copy("vision.patch_embedding", "vision_model.embeddings.patch_embedding.weight"),
            WeightBinding.Copy("vision.class_embedding", "vision_model.embeddings.class_embedding"),
            WeightBinding.Copy("vision.position_embedding", "vision_model.embeddings.position_embedding.weight"),
            WeightBinding.Copy("vision.projection.weight", "visual_projection.weight"),
            WeightBinding.Copy("text.token_embedding", "text_model.embeddings.token_embedding.weight"),
            WeightBinding.Copy("text.position_embedding", "text_model.embeddings.position_embedding.weight"),
            WeightBinding.Copy("text.projection.weight", "text_projection.weight"),
            WeightBinding.Copy("logit_scale", "logit_scale"),
        };
        // "pre_layrnorm" is transformers' own spelling of the key.
        AddNorm(map, "vision.ln_pre", "vision_model.pre_layrnorm");
        AddNorm(map, "vision.ln_post", "vision_model.post_layernorm");
        AddNorm(map, "text.ln_final", "text_model.final_layer_norm");
        AddHuggingFaceLayers(map, "vision", "vision_model.encoder.layers", config.Vision.Layers);
        AddHuggingFaceLayers(map, "text", "text_model.encoder.layers", config.Text.Layers);
        return map;
    }

    /// <summary>The text tower of a transformers <c>CLIPTextModel</c> (no projection): targets <c>text.*</c> of
    /// <see cref="ClipTextEncoder"/>, sources <c>text_model.*</c>.</summary>
    public static IReadOnlyList<WeightBinding> HuggingFaceTextModel(ClipTextConfig text)
    {
        var map = new List<WeightBinding>
        {
            WeightBinding.Copy("text.token_embedding", "text_model.embeddings.token_embedding.weight"),
            WeightBinding.Copy("text.position_embedding", "text_model.embeddings.position_embedding.weight"),
        };
        AddNorm(map, "text.ln_final", "text_model.final_layer_norm");
        AddHuggingFaceLayers(map, "text", "text_model.encoder.layers", text.Layers);
        return map;
    }

    private static void AddHuggingFaceLayers(List<WeightBinding> map, string tower, string sourcePrefix, int layers)
    {
        for (var i = 0; i < layers; i++)
        {
            var t = $"{tower}.encoder.layers.{i}";
            var s = $"{sourcePrefix}.{i}";
            AddNorm(map, $"{t}.ln_1", $"{s}.layer_norm1");
            AddNorm(map, $"{t}.ln_2", $"{s}.layer_norm2");
            foreach (var p in new[] { "weight", "bias" })
            {
                map.Add(new WeightBinding($"{t}.attn.qkv.{p}",
                    [$"{s}.self_attn.q_proj.{p}", $"{s}.self_attn.k_proj.{p}", $"{s}.self_attn.v_proj.{p}"], WeightTransform.ConcatRows));
                map.Add(WeightBinding.Copy($"{t}.attn.out.{p}", $"{s}.self_attn.out_proj.{p}"));
                map.Add(WeightBinding.Copy($"{t}.mlp.fc1.{p}", $"{s}.mlp.fc1.{p}"));
                map.Add(WeightBinding.Copy($"{t}.mlp.fc2.{p}", $"{s}.mlp.fc2.{p}"));
            }
        }
    }

    private static List<WeightBinding> OpenClip(ClipConfig config)
    {
        var map = new List<WeightBinding>
        {
            WeightBinding.Copy("vision.patch_embedding", "visual.conv1.weight"),
            WeightBinding.Copy("vision.class_embedding", "visual.class_embedding"),
            WeightBinding.Copy("vision.position_embedding", "visual.positional_embedding"),
            new("vision.projection.weight", ["visual.proj"], WeightTransform.Transpose),
            WeightBinding.Copy("text.token_embedding", "token_embedding.weight"),
            WeightBinding.Copy("text.position_embedding", "positional_embedding"),
            new("text.projection.weight", ["text_projection"], WeightTransform.Transpose),
            WeightBinding.Copy("logit_scale", "logit_scale"),
        };
        AddNorm(map, "vision.ln_pre", "visual.ln_pre");
        AddNorm(map, "vision.ln_post", "visual.ln_post");
        AddNorm(map, "text.ln_final", "ln_final");
        AddOpenClipLayers(map, "vision", "visual.transformer.resblocks", config.Vision.Layers);
        AddOpenClipLayers(map, "text", "transformer.resblocks", config.Text.Layers);
        return map;
    }

    private static void AddOpenClipLayers(List<WeightBinding> map, string tower, string sourcePrefix, int layers)
    {
        for (var i = 0; i < layers; i++)
        {
            var t = $"{tower}.encoder.layers.{i}";
            var s = $"{sourcePrefix}.{i}";
            AddNorm(map, $"{t}.ln_1", $"{s}.ln_1");
            AddNorm(map, $"{t}.ln_2", $"{s}.ln_2");
            // nn.MultiheadAttention already stores the fused [3W, W] projection in q, k, v order.
            map.Add(WeightBinding.Copy($"{t}.attn.qkv.weight", $"{s}.attn.in_proj_weight"));
            map.Add(WeightBinding.Copy($"{t}.attn.qkv.bias", $"{s}.attn.in_proj_bias"));
            foreach (var p in new[] { "weight", "bias" })
            {
                map.Add(WeightBinding.Copy($"{t}.attn.out.{p}", $"{s}.attn.out_proj.{p}"));
                map.Add(WeightBinding.Copy($"{t}.mlp.fc1.{p}", $"{s}.mlp.c_fc.{p}"));
                map.Add(WeightBinding.Copy($"{t}.mlp.fc2.{p}", $"{s}.mlp.c_proj.{p}"));
            }
        }
    }

    private static void AddNorm(List<WeightBinding> map, string target, string source)
    {
        map.Add(WeightBinding.Copy($"{target}.weight", $"{source}.weight"));
        map.Add(WeightBinding.Copy($"{target}.bias", $"{source}.bias"));
    }
}
