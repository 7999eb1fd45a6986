using BiasBench.Abstractions;
using BiasBench.Imaging;
using BiasBench.Tokenizers;
using TorchSharp;

namespace BiasBench.Plugins.ImageReward;

/// <summary>The tokenizer and image pipeline the plugin's factory gives the model.</summary>
public static class ImageRewardServices
{
    /// <summary>The vocabulary ImageReward's BLIP tokenizer uses (bert-base-uncased plus [DEC]/[ENC], which prompts never produce).</summary>
    public const string VocabularyFileName = "vocab.txt";

    /// <summary>The explicit vocabulary path, else <c>vocab.txt</c> beside the weights or the config.</summary>
    public static string ResolveVocabulary(string? explicitPath, ImageRewardFiles files)
    {
        if (explicitPath is not null)
            return File.Exists(explicitPath) ? explicitPath : throw new FileNotFoundException($"BERT vocabulary '{explicitPath}' does not exist.", explicitPath);
        var candidates = new[] { files.WeightsFile, files.ConfigFile }
            .Select(f => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(f))!, VocabularyFileName))
            .Distinct()
            .ToList();
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"No BERT WordPiece vocabulary found (looked for {string.Join(", ", candidates)}); set vocab_path to bert-base-uncased's vocab.txt.");
    }

    /// <summary>BLIP's BERT WordPiece tokenizer over <paramref name="vocabPath"/>.</summary>
    public static IPromptTokenizer CreateTokenizer(string vocabPath) => BlipPromptTokenizer.FromVocabFile(vocabPath);

    /// <summary>Decoder + PIL-bicubic preprocessing for scoring image files.</summary>
    public static IImagePreprocessor CreateImagePreprocessor(ImageDecodeLimits? limits = null) => new PilImagePreprocessor(limits);
}

/// <summary>
/// BLIP's <c>init_tokenizer()</c>: <c>bert-base-uncased</c> lower-casing WordPiece plus the added special tokens
/// [DEC] (bos) and [ENC], which take the next ids (30522, 30523 with the stock vocabulary; hence vocab_size 30524).
/// Encodes as ImageReward calls it: [CLS] ... [SEP], truncated to and padded with 0 up to <c>max_length</c>.
/// </summary>
public sealed class BlipPromptTokenizer : IPromptTokenizer
{
    private readonly BertWordPieceTokenizer _tokenizer;

    public BlipPromptTokenizer(BertWordPieceTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
    }

    public static BlipPromptTokenizer FromVocabFile(string vocabPath)
    {
        var tokenizer = BertWordPieceTokenizer.FromVocabFile(vocabPath, lowerCase: true);
        // Added so that a literal "[DEC]"/"[ENC]" in a prompt maps to one id as in BLIP, not to WordPieces.
        tokenizer.AddSpecialToken("[DEC]");
        tokenizer.AddSpecialToken("[ENC]");
        return new BlipPromptTokenizer(tokenizer);
    }

    public TokenizedPrompt Encode(string prompt, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var encoded = _tokenizer.Encode(prompt, maxLength);
        if (encoded.InputIds.Length > maxLength || encoded.AttentionMask.Length != encoded.InputIds.Length)
            throw new InvalidOperationException(
                $"The WordPiece tokenizer returned {encoded.InputIds.Length} ids and {encoded.AttentionMask.Length} mask values for max_length {maxLength}.");
        if (encoded.InputIds.Length == maxLength) return new TokenizedPrompt(encoded.InputIds, encoded.AttentionMask, encoded.Truncated);
        // padding='max_length' with BERT's pad id 0 (masked out).
        var ids = new long[maxLength];
        var mask = new long[maxLength];
        encoded.InputIds.CopyTo(ids, 0);
        encoded.AttentionMask.CopyTo(mask, 0);
        return new TokenizedPrompt(ids, mask, encoded.Truncated);
    }
}

/// <summary>
/// ImageReward's release preprocessing on encoded files: decode to RGB, PIL bicubic resize of the short side,
/// centre crop, ToTensor and CLIP mean/std (<see cref="ClipPreprocessing.PilCenterCrop"/>).
/// </summary>
public sealed class PilImagePreprocessor(ImageDecodeLimits? limits = null) : IImagePreprocessor
{
    public async Task<torch.Tensor> LoadAsync(ImageRef image, int size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        var bytes = await image.ReadBytesAsync(cancellationToken).ConfigureAwait(false);
        // The full-size pixels are pooled (a fresh 3 MB array per 1024 px image would land on the large-object heap).
        using var rgb = ImageDecoder.DecodePooled(bytes.Span, image.Path ?? image.Id, limits);
        var chw = ClipPreprocessing.PilCenterCrop(rgb.Image, size);
        if (chw.Channels != 3 || chw.Height != size || chw.Width != size)
            throw new InvalidOperationException($"{image}: preprocessing returned {chw.Channels}x{chw.Height}x{chw.Width}, expected 3x{size}x{size}.");
        return chw.ToTensor();
    }
}
