using BiasBench.Networks.Clip;
using BiasBench.Torch.Backend;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>Builds the reward models from their options (what the plugin's factories call).</summary>
public static class ClipRewardFactory
{
    public static PickScoreModel CreatePickScore(ClipRewardOptions options, string runDevice = "auto", ILogger? logger = null)
    {
        var checkpoint = ClipCheckpoint.Resolve(options.ModelPath, options.ConfigPath);
        var tokenizer = Tokenizer(options, checkpoint, PickScoreModel.ModelName);
        return Build(checkpoint, options, runDevice, ClipImageTransform.PilCenterCrop, logger,
            (clip, images, checksum) => new PickScoreModel(clip, images, tokenizer, options.BatchSize, checksum, logger));
    }

    public static HpsV2Model CreateHps(HpsVersion version, ClipRewardOptions options, string runDevice = "auto", ILogger? logger = null)
    {
        var checkpoint = ClipCheckpoint.Resolve(options.ModelPath, options.ConfigPath, ClipCheckpoint.OpenClipVitH14, "open_clip ViT-H-14 (built in)");
        var tokenizer = Tokenizer(options, checkpoint, version == HpsVersion.V2_0 ? HpsV2Model.V2Name : HpsV2Model.V21Name);
        return Build(checkpoint, options, runDevice, ClipImageTransform.HpsResizeLongestPad, logger,
            (clip, images, checksum) => new HpsV2Model(version, clip, images, tokenizer, options.BatchSize, checksum, logger));
    }

    public static ClipScoreModel CreateClipScore(ClipRewardOptions options, string runDevice = "auto", ILogger? logger = null)
    {
        var checkpoint = ClipCheckpoint.Resolve(options.ModelPath, options.ConfigPath);
        var tokenizer = Tokenizer(options, checkpoint, ClipScoreModel.ModelName);
        return Build(checkpoint, options, runDevice, ClipImageTransform.PilCenterCrop, logger,
            (clip, images, checksum) => new ClipScoreModel(clip, images, tokenizer, options.BatchSize, checksum, logger));
    }

    public static LaionAestheticModel CreateLaionAesthetic(LaionAestheticOptions options, string runDevice = "auto", ILogger? logger = null)
    {
        var checkpoint = ClipCheckpoint.Resolve(options.ModelPath, options.ConfigPath);
        return Build(checkpoint, options, runDevice, ClipImageTransform.PilCenterCrop, logger, (clip, images, checksum) =>
        {
            TorchBackend.EnsureInitialized();
            var head = AestheticHead.Load(options.HeadPath);
            try
            {
                var combined = WeightsChecksumCache.Combined([.. checkpoint.WeightFiles, options.HeadPath]);
                return new LaionAestheticModel(clip, head, images, options.BatchSize, combined, logger);
            }
            catch
            {
                head.Dispose();
                throw;
            }
        });
    }

    private static TModel Build<TModel>(ClipCheckpoint checkpoint, ClipBackboneOptions options, string runDevice, ClipImageTransform defaultTransform,
        ILogger? logger, Func<ClipModel, IClipImagePipeline, string, TModel> create)
    {
        TorchBackend.EnsureInitialized();
        var (device, dtype) = options.ResolvePlacement(runDevice);
        var transform = options.ParseImageTransform() ?? defaultTransform;
        var size = checkpoint.Config.Vision.ImageSize;
        var images = options.JpegDctScaling ? ImagingClipPipeline.WithJpegDctScaling(transform, size) : new ImagingClipPipeline(transform, size);
        var clip = checkpoint.Load();
        try
        {
            clip.To(device, dtype);
            var checksum = WeightsChecksumCache.Combined(checkpoint.WeightFiles);
            logger?.LogInformation("Loaded {Config} from {Weights} ({Source}) on {Device} as {DType}; sha256 {Checksum}",
                checkpoint.Config, string.Join(", ", checkpoint.WeightFiles), checkpoint.ConfigSource, device, dtype, checksum);
            return create(clip, images, checksum);
        }
        catch
        {
            clip.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The prompt tokenizer: vocab.json + merges.txt (options, else beside the weights), else open_clip's BPE .gz.
    /// Hugging Face CLIP pads with the end token (49407) and passes an attention mask; open_clip pads with 0.
    /// </summary>
    private static IClipPromptTokenizer Tokenizer(ClipRewardOptions options, ClipCheckpoint checkpoint, string modelName)
    {
        var folder = Directory.Exists(options.ModelPath) ? options.ModelPath : Path.GetDirectoryName(Path.GetFullPath(options.ModelPath))!;
        var vocab = options.TokenizerVocabPath ?? Existing(Path.Combine(folder, "vocab.json"));
        var merges = options.TokenizerMergesPath ?? Existing(Path.Combine(folder, "merges.txt"));
        var bpe = options.TokenizerBpePath ?? Existing(Path.Combine(folder, "bpe_simple_vocab_16e6.txt.gz"));
        if ((vocab is null) != (merges is null) && bpe is null)
            throw new ArgumentException($"{modelName}: tokenizer_vocab_path and tokenizer_merges_path go together (got {vocab ?? "no vocab.json"} and {merges ?? "no merges.txt"}).");
        var padId = checkpoint.Config.Layout == ClipLayout.HuggingFace ? ClipConfig.ClipEndOfText : 0L;
        var context = checkpoint.Config.Text.ContextLength;
        if (vocab is not null && merges is not null) return ClipBpePromptTokenizer.FromHuggingFace(vocab, merges, padId, context);
        if (bpe is not null) return ClipBpePromptTokenizer.FromOpenClip(bpe, padId, context);
        throw new ArgumentException($"{modelName} needs a CLIP tokenizer: set tokenizer_vocab_path + tokenizer_merges_path " +
            "(e.g. from laion/CLIP-ViT-H-14-laion2B-s32B-b79K) or tokenizer_bpe_path (open_clip's bpe_simple_vocab_16e6.txt.gz).");
    }

    private static string? Existing(string path) => File.Exists(path) ? path : null;
}
