using BiasBench.Abstractions;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward;

/// <summary>
/// BERT token ids for one prompt, already padded/truncated to <see cref="ImageRewardModel.TextLength"/>.
/// <paramref name="Truncated"/>: the prompt had more tokens than fit and its tail was dropped.
/// </summary>
public sealed record TokenizedPrompt(long[] InputIds, long[] AttentionMask, bool Truncated = false);

/// <summary>
/// ImageReward's tokenizer: BLIP's <c>bert-base-uncased</c> WordPiece ([CLS] ... [SEP], pad id 0) called with
/// <c>padding='max_length', truncation=True, max_length=35</c>.
/// </summary>
public interface IPromptTokenizer
{
    TokenizedPrompt Encode(string prompt, int maxLength);
}

/// <summary>Decodes an image and applies the release preprocessing (PIL bicubic short side 224, centre crop, CLIP norm).</summary>
public interface IImagePreprocessor
{
    /// <summary>Returns float32 pixel values [3, size, size] on the CPU; throws when the image cannot be read or decoded.</summary>
    Task<Tensor> LoadAsync(ImageRef image, int size, CancellationToken cancellationToken);
}
