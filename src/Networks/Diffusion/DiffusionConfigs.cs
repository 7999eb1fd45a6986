namespace BiasBench.Networks.Diffusion;

/// <summary>How a ResNet block injects the timestep embedding (diffusers' <c>resnet_time_scale_shift</c>).</summary>
public enum TimeScaleShift
{
    /// <summary>h = norm2(conv1(...) + proj(temb)).</summary>
    Default,

    /// <summary>h = norm2(conv1(...)) * (1 + scale) + shift, with [scale, shift] = proj(temb).</summary>
    ScaleShift,
}

internal static class ConfigValues
{
    public static TimeScaleShift ParseTimeScaleShift(string? value, string path) => value switch
    {
        null or "default" => TimeScaleShift.Default,
        "scale_shift" => TimeScaleShift.ScaleShift,
        _ => throw new NotSupportedException($"{path}: resnet_time_scale_shift '{value}' is not supported (default or scale_shift)."),
    };

    public static void CheckActivation(string activation, string path, string key = "act_fn")
    {
        if (!DiffusionLayers.IsKnownActivation(activation))
            throw new NotSupportedException($"{path}: {key} '{activation}' is not supported (silu/swish, mish, gelu, relu).");
    }

    public static void CheckBlocks(IReadOnlyList<string> types, string[] supported, string key, string path)
    {
        foreach (var t in types)
            if (!supported.Contains(t, StringComparer.Ordinal))
                throw new NotSupportedException($"{path}: {key} has '{t}', which is not supported (supported: {string.Join(", ", supported)}).");
    }

    public static IReadOnlyList<int> PerBlock(DiffusersConfigReader r, string key, int fallback, int count)
    {
        var values = r.IntOrInts(key, count);
        if (values is null) return Enumerable.Repeat(fallback, count).ToList();
        if (values.Any(v => v is null)) throw new InvalidDataException($"{r.Path}: '{key}' must not contain null.");
        return values.Select(v => v!.Value).ToList();
    }
}

/// <summary>
/// diffusers <c>UNet2DModel</c> configuration (pixel-space DDPM/DDIM UNets such as google/ddpm-celebahq-256), read
/// from its <c>unet/config.json</c> with the class's defaults for absent keys.
/// </summary>
public sealed record UNet2DConfig
{
    public static readonly string[] SupportedDownBlocks = ["DownBlock2D", "AttnDownBlock2D"];
    public static readonly string[] SupportedUpBlocks = ["UpBlock2D", "AttnUpBlock2D"];

    public int? SampleSize { get; init; }
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public bool CenterInputSample { get; init; }
    public int? TimeEmbeddingDim { get; init; }
    public double FreqShift { get; init; }
    public bool FlipSinToCos { get; init; } = true;
    public IReadOnlyList<string> DownBlockTypes { get; init; } = ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"];
    public bool HasMidBlock { get; init; } = true;
    public IReadOnlyList<string> UpBlockTypes { get; init; } = ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"];
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [224, 448, 672, 896];
    public int LayersPerBlock { get; init; } = 2;
    public double MidBlockScaleFactor { get; init; } = 1;
    public int DownsamplePadding { get; init; } = 1;
    public string ActFn { get; init; } = "silu";
    /// <summary>null: one head per attention layer (head width = the block's channels), diffusers' behaviour for null.</summary>
    public int? AttentionHeadDim { get; init; } = 8;
    public int NormNumGroups { get; init; } = 32;
    public int? AttnNormNumGroups { get; init; }
    public double NormEps { get; init; } = 1e-5;
    public TimeScaleShift ResnetTimeScaleShift { get; init; } = TimeScaleShift.Default;
    public bool AddAttention { get; init; } = true;

    public int TimeEmbedDim => TimeEmbeddingDim ?? BlockOutChannels[0] * 4;

    /// <summary>The factor by which the input's height and width must be divisible (one downsampling per block but the last).</summary>
    public int SizeDivisor => 1 << (BlockOutChannels.Count - 1);

    public static UNet2DConfig FromFile(string path)
    {
        using var r = DiffusersConfigReader.Open(path);
        r.ExpectClass("UNet2DModel");
        r.RejectUnless("time_embedding_type", "positional");
        r.RejectUnless("class_embed_type", (object?)null);
        r.RejectUnless("num_class_embeds", (object?)null);
        r.RejectUnless("downsample_type", "conv");
        r.RejectUnless("upsample_type", "conv");
        r.RejectUnless("mid_block_type", "UNetMidBlock2D");
        var defaults = new UNet2DConfig();
        var config = new UNet2DConfig
        {
            SampleSize = r.IsSet("sample_size") ? SquareSize(r, "sample_size") : null,
            InChannels = r.Int("in_channels", defaults.InChannels),
            OutChannels = r.Int("out_channels", defaults.OutChannels),
            CenterInputSample = r.Bool("center_input_sample", false),
            TimeEmbeddingDim = r.NullableInt("time_embedding_dim"),
            FreqShift = r.Double("freq_shift", 0),
            FlipSinToCos = r.Bool("flip_sin_to_cos", true),
            DownBlockTypes = r.Strings("down_block_types", defaults.DownBlockTypes),
            HasMidBlock = r.StringOrNull("mid_block_type", "UNetMidBlock2D") is not null,
            UpBlockTypes = r.Strings("up_block_types", defaults.UpBlockTypes),
            BlockOutChannels = r.Ints("block_out_channels", defaults.BlockOutChannels),
            LayersPerBlock = r.Int("layers_per_block", defaults.LayersPerBlock),
            MidBlockScaleFactor = r.Double("mid_block_scale_factor", 1),
            DownsamplePadding = r.Int("downsample_padding", 1),
            ActFn = r.String("act_fn", "silu")!,
            AttentionHeadDim = r.IntOrNull("attention_head_dim", 8),
            NormNumGroups = r.Int("norm_num_groups", 32),
            AttnNormNumGroups = r.NullableInt("attn_norm_num_groups"),
            NormEps = r.Double("norm_eps", 1e-5),
            ResnetTimeScaleShift = ConfigValues.ParseTimeScaleShift(r.String("resnet_time_scale_shift", "default"), path),
            AddAttention = r.Bool("add_attention", true),
        };
        config.Validate(path);
        return config;
    }

    public void Validate(string source = "UNet2DModel config")
    {
        void Check(bool ok, string message)
        {
            if (!ok) throw new InvalidDataException($"{source}: {message}");
        }
        ConfigValues.CheckBlocks(DownBlockTypes, SupportedDownBlocks, "down_block_types", source);
        ConfigValues.CheckBlocks(UpBlockTypes, SupportedUpBlocks, "up_block_types", source);
        ConfigValues.CheckActivation(ActFn, source);
        Check(BlockOutChannels.Count > 0 && BlockOutChannels.All(c => c > 0), "block_out_channels must be positive.");
        Check(DownBlockTypes.Count == BlockOutChannels.Count, $"{DownBlockTypes.Count} down blocks but {BlockOutChannels.Count} block_out_channels.");
        Check(UpBlockTypes.Count == BlockOutChannels.Count, $"{UpBlockTypes.Count} up blocks but {BlockOutChannels.Count} block_out_channels.");
        Check(LayersPerBlock > 0, "layers_per_block must be positive.");
        Check(NormNumGroups > 0 && BlockOutChannels.All(c => c % NormNumGroups == 0), $"every block width must be a multiple of norm_num_groups {NormNumGroups}.");
        Check(AttentionHeadDim is null || BlockOutChannels.All(c => c % AttentionHeadDim == 0), $"every block width must be a multiple of attention_head_dim {AttentionHeadDim}.");
        Check(DownsamplePadding is 0 or 1, "downsample_padding must be 0 or 1.");
    }

    internal static int SquareSize(DiffusersConfigReader r, string key)
    {
        var sizes = r.IntOrInts(key, 2) ?? throw new InvalidDataException($"{r.Path}: '{key}' is missing.");
        if (sizes[0] != sizes[1]) throw new NotSupportedException($"{r.Path}: non-square '{key}' is not supported.");
        return sizes[0]!.Value;
    }
}

/// <summary>
/// diffusers <c>UNet2DConditionModel</c> configuration as used by Stable Diffusion 1.x/2.x (cross-attention
/// transformer blocks conditioned on text embeddings), read from <c>unet/config.json</c>.
/// </summary>
public sealed record UNet2DConditionConfig
{
    public static readonly string[] SupportedDownBlocks = ["CrossAttnDownBlock2D", "DownBlock2D"];
    public static readonly string[] SupportedUpBlocks = ["CrossAttnUpBlock2D", "UpBlock2D"];

    public int? SampleSize { get; init; }
    public int InChannels { get; init; } = 4;
    public int OutChannels { get; init; } = 4;
    public bool CenterInputSample { get; init; }
    public bool FlipSinToCos { get; init; } = true;
    public double FreqShift { get; init; }
    public IReadOnlyList<string> DownBlockTypes { get; init; } = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    public bool HasMidBlock { get; init; } = true;
    public IReadOnlyList<string> UpBlockTypes { get; init; } = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    public IReadOnlyList<int> LayersPerBlock { get; init; } = [2, 2, 2, 2];
    public int DownsamplePadding { get; init; } = 1;
    public double MidBlockScaleFactor { get; init; } = 1;
    public string ActFn { get; init; } = "silu";
    public int NormNumGroups { get; init; } = 32;
    public double NormEps { get; init; } = 1e-5;
    public IReadOnlyList<int> CrossAttentionDim { get; init; } = [1280, 1280, 1280, 1280];
    public IReadOnlyList<int> TransformerLayersPerBlock { get; init; } = [1, 1, 1, 1];
    /// <summary>Heads per transformer block. diffusers reads it from <c>attention_head_dim</c> (a historical misnomer
    /// it keeps for compatibility) unless <c>num_attention_heads</c> is set.</summary>
    public IReadOnlyList<int> NumAttentionHeads { get; init; } = [8, 8, 8, 8];
    public bool UseLinearProjection { get; init; }
    public TimeScaleShift ResnetTimeScaleShift { get; init; } = TimeScaleShift.Default;
    public int? TimeEmbeddingDim { get; init; }
    public string? TimeEmbeddingActFn { get; init; }
    public string? TimestepPostAct { get; init; }
    public int ConvInKernel { get; init; } = 3;
    public int ConvOutKernel { get; init; } = 3;

    public int TimeEmbedDim => TimeEmbeddingDim ?? BlockOutChannels[0] * 4;
    public int SizeDivisor => 1 << (BlockOutChannels.Count - 1);

    public static UNet2DConditionConfig FromFile(string path)
    {
        using var r = DiffusersConfigReader.Open(path);
        r.ExpectClass("UNet2DConditionModel");
        r.RejectUnless("time_embedding_type", "positional");
        r.RejectUnless("class_embed_type", (object?)null);
        r.RejectUnless("num_class_embeds", (object?)null);
        r.RejectUnless("addition_embed_type", (object?)null);
        r.RejectUnless("encoder_hid_dim", (object?)null);
        r.RejectUnless("encoder_hid_dim_type", (object?)null);
        r.RejectUnless("time_cond_proj_dim", (object?)null);
        r.RejectUnless("only_cross_attention", false);
        r.RejectUnless("mid_block_only_cross_attention", (object?)null, false);
        r.RejectUnless("dual_cross_attention", false);
        r.RejectUnless("cross_attention_norm", (object?)null);
        r.RejectUnless("attention_type", "default");
        r.RejectUnless("class_embeddings_concat", false);
        r.RejectUnless("reverse_transformer_layers_per_block", (object?)null);
        r.RejectUnless("mid_block_type", "UNetMidBlock2DCrossAttn");
        if (r.IsSet("num_attention_heads"))
            throw new NotSupportedException($"{path}: num_attention_heads is set; diffusers itself refuses this for UNet2DConditionModel (the head count comes from attention_head_dim).");

        var defaults = new UNet2DConditionConfig();
        var down = r.Strings("down_block_types", defaults.DownBlockTypes);
        var blocks = down.Count;
        var config = new UNet2DConditionConfig
        {
            SampleSize = r.IsSet("sample_size") ? UNet2DConfig.SquareSize(r, "sample_size") : null,
            InChannels = r.Int("in_channels", 4),
            OutChannels = r.Int("out_channels", 4),
            CenterInputSample = r.Bool("center_input_sample", false),
            FlipSinToCos = r.Bool("flip_sin_to_cos", true),
            FreqShift = r.Double("freq_shift", 0),
            DownBlockTypes = down,
            HasMidBlock = r.StringOrNull("mid_block_type", "UNetMidBlock2DCrossAttn") is not null,
            UpBlockTypes = r.Strings("up_block_types", defaults.UpBlockTypes),
            BlockOutChannels = r.Ints("block_out_channels", defaults.BlockOutChannels),
            LayersPerBlock = ConfigValues.PerBlock(r, "layers_per_block", 2, blocks),
            DownsamplePadding = r.Int("downsample_padding", 1),
            MidBlockScaleFactor = r.Double("mid_block_scale_factor", 1),
            ActFn = r.String("act_fn", "silu")!,
            NormNumGroups = r.Int("norm_num_groups", 32),
            NormEps = r.Double("norm_eps", 1e-5),
            CrossAttentionDim = ConfigValues.PerBlock(r, "cross_attention_dim", 1280, blocks),
            TransformerLayersPerBlock = ConfigValues.PerBlock(r, "transformer_layers_per_block", 1, blocks),
            NumAttentionHeads = ConfigValues.PerBlock(r, "attention_head_dim", 8, blocks),
            UseLinearProjection = r.Bool("use_linear_projection", false),
            ResnetTimeScaleShift = ConfigValues.ParseTimeScaleShift(r.String("resnet_time_scale_shift", "default"), path),
            TimeEmbeddingDim = r.NullableInt("time_embedding_dim"),
            TimeEmbeddingActFn = r.String("time_embedding_act_fn", null),
            TimestepPostAct = r.String("timestep_post_act", null),
            ConvInKernel = r.Int("conv_in_kernel", 3),
            ConvOutKernel = r.Int("conv_out_kernel", 3),
        };
        config.Validate(path);
        return config;
    }

    public void Validate(string source = "UNet2DConditionModel config")
    {
        void Check(bool ok, string message)
        {
            if (!ok) throw new InvalidDataException($"{source}: {message}");
        }
        ConfigValues.CheckBlocks(DownBlockTypes, SupportedDownBlocks, "down_block_types", source);
        ConfigValues.CheckBlocks(UpBlockTypes, SupportedUpBlocks, "up_block_types", source);
        ConfigValues.CheckActivation(ActFn, source);
        if (TimeEmbeddingActFn is not null) ConfigValues.CheckActivation(TimeEmbeddingActFn, source, "time_embedding_act_fn");
        if (TimestepPostAct is not null) ConfigValues.CheckActivation(TimestepPostAct, source, "timestep_post_act");
        var n = BlockOutChannels.Count;
        Check(n > 0 && BlockOutChannels.All(c => c > 0), "block_out_channels must be positive.");
        Check(DownBlockTypes.Count == n && UpBlockTypes.Count == n, $"{DownBlockTypes.Count} down and {UpBlockTypes.Count} up blocks but {n} block_out_channels.");
        Check(new[] { LayersPerBlock.Count, CrossAttentionDim.Count, TransformerLayersPerBlock.Count, NumAttentionHeads.Count }.All(c => c == n), "per-block lists must have one entry per block.");
        Check(NormNumGroups > 0 && BlockOutChannels.All(c => c % NormNumGroups == 0), $"every block width must be a multiple of norm_num_groups {NormNumGroups}.");
        for (var i = 0; i < n; i++)
            Check(NumAttentionHeads[i] > 0 && BlockOutChannels[i] % NumAttentionHeads[i] == 0, $"block {i} width {BlockOutChannels[i]} is not a multiple of its head count {NumAttentionHeads[i]}.");
        Check(ConvInKernel % 2 == 1 && ConvOutKernel % 2 == 1, "conv_in_kernel and conv_out_kernel must be odd.");
    }
}

/// <summary>diffusers <c>AutoencoderKL</c> configuration (the Stable Diffusion VAE), read from <c>vae/config.json</c>.</summary>
public sealed record AutoencoderKLConfig
{
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public IReadOnlyList<string> DownBlockTypes { get; init; } = ["DownEncoderBlock2D"];
    public IReadOnlyList<string> UpBlockTypes { get; init; } = ["UpDecoderBlock2D"];
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [64];
    public int LayersPerBlock { get; init; } = 1;
    public string ActFn { get; init; } = "silu";
    public int LatentChannels { get; init; } = 4;
    public int NormNumGroups { get; init; } = 32;
    public int SampleSize { get; init; } = 32;
    /// <summary>Latents are divided by this before decoding (and multiplied after encoding).</summary>
    public double ScalingFactor { get; init; } = 0.18215;
    /// <summary>Subtracted after encoding / added before decoding when set (SD3-style VAEs); null for SD 1.x.</summary>
    public double? ShiftFactor { get; init; }
    public bool ForceUpcast { get; init; } = true;
    public bool UseQuantConv { get; init; } = true;
    public bool UsePostQuantConv { get; init; } = true;
    public bool MidBlockAddAttention { get; init; } = true;

    /// <summary>Pixels per latent along each side.</summary>
    public int DownscaleFactor => 1 << (BlockOutChannels.Count - 1);

    public static AutoencoderKLConfig FromFile(string path)
    {
        using var r = DiffusersConfigReader.Open(path);
        r.ExpectClass("AutoencoderKL");
        r.RejectUnless("latents_mean", (object?)null);
        r.RejectUnless("latents_std", (object?)null);
        var d = new AutoencoderKLConfig();
        var config = new AutoencoderKLConfig
        {
            InChannels = r.Int("in_channels", 3),
            OutChannels = r.Int("out_channels", 3),
            DownBlockTypes = r.Strings("down_block_types", d.DownBlockTypes),
            UpBlockTypes = r.Strings("up_block_types", d.UpBlockTypes),
            BlockOutChannels = r.Ints("block_out_channels", d.BlockOutChannels),
            LayersPerBlock = r.Int("layers_per_block", 1),
            ActFn = r.String("act_fn", "silu")!,
            LatentChannels = r.Int("latent_channels", 4),
            NormNumGroups = r.Int("norm_num_groups", 32),
            SampleSize = r.IsSet("sample_size") ? UNet2DConfig.SquareSize(r, "sample_size") : 32,
            ScalingFactor = r.Double("scaling_factor", 0.18215),
            ShiftFactor = r.NullableDouble("shift_factor"),
            ForceUpcast = r.Bool("force_upcast", true),
            UseQuantConv = r.Bool("use_quant_conv", true),
            UsePostQuantConv = r.Bool("use_post_quant_conv", true),
            MidBlockAddAttention = r.Bool("mid_block_add_attention", true),
        };
        config.Validate(path);
        return config;
    }

    public void Validate(string source = "AutoencoderKL config")
    {
        void Check(bool ok, string message)
        {
            if (!ok) throw new InvalidDataException($"{source}: {message}");
        }
        ConfigValues.CheckBlocks(DownBlockTypes, ["DownEncoderBlock2D"], "down_block_types", source);
        ConfigValues.CheckBlocks(UpBlockTypes, ["UpDecoderBlock2D"], "up_block_types", source);
        ConfigValues.CheckActivation(ActFn, source);
        Check(BlockOutChannels.Count > 0 && DownBlockTypes.Count == BlockOutChannels.Count && UpBlockTypes.Count == BlockOutChannels.Count,
            "down_block_types, up_block_types and block_out_channels must have the same length.");
        Check(NormNumGroups > 0 && BlockOutChannels.All(c => c > 0 && c % NormNumGroups == 0), $"every block width must be a multiple of norm_num_groups {NormNumGroups}.");
        Check(LayersPerBlock > 0 && LatentChannels > 0, "layers_per_block and latent_channels must be positive.");
        Check(ScalingFactor > 0, "scaling_factor must be positive.");
    }
}
