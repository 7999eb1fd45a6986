using System.Collections.Concurrent;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using BiasBench.Plugins.ImageReward.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward;

/// <summary>
/// ImageReward (Xu et al., 2023) as a BiasBench reward model: scores image + prompt pairs and, for fine-tuning, gives
/// rewards with gradients with respect to the pixels.
/// </summary>
public sealed class ImageRewardModel : IDifferentiableRewardModel
{
    /// <summary>ImageReward tokenizes with <c>max_length=35</c>.</summary>
    public const int TextLength = 35;

    public const string ModelName = "image-reward";
    public const string PreprocessingName = "pil-bicubic-224-centercrop/clip-norm";

    private readonly IPromptTokenizer _tokenizer;
    private readonly IImagePreprocessor? _images;
    private readonly int _batchSize;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, byte> _warnedTruncation = new(StringComparer.Ordinal);
    private readonly object _computeLock = new(); // two batches may be in flight; the network runs one at a time
    private bool _disposed;

    /// <param name="network">A loaded network (the model owns and disposes it).</param>
    /// <param name="tokenizer">BERT WordPiece tokenizer for prompts.</param>
    /// <param name="images">Decoder + PIL-style preprocessing for <see cref="ScoreAsync"/>; null when only tensors are scored.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <param name="weightsChecksum">Digest of the weights, recorded in <see cref="Info"/>.</param>
    /// <param name="logger">Receives the per-item notes about prompts truncated to <see cref="TextLength"/> tokens.</param>
    public ImageRewardModel(ImageRewardNetwork network, IPromptTokenizer tokenizer, IImagePreprocessor? images, int batchSize = 16,
        string? weightsChecksum = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        Network = network;
        _tokenizer = tokenizer;
        _images = images;
        _batchSize = batchSize;
        _logger = logger ?? NullLogger.Instance;
        var mean = network.Config.RewardMean.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        var std = network.Config.RewardStd.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        Info = new RewardModelInfo(
            ModelName,
            "1.0",
            // Not comparable across prompts: ImageReward was trained with a pairwise ranking loss on ImageRewardDB, where
            // annotators ranked images generated for the same prompt. Only differences within a prompt were supervised, so
            // a prompt-dependent offset is unconstrained and raw scores of different prompts must not be compared. The
            // standardisation constants are global (one mean/std), so they do not fix that; the range is unbounded.
            new ScoreSemantics(
                $"(MLP(CLS) - {mean}) / {std}, standardised reward; trained on ImageRewardDB pairwise human preferences " +
                "between images generated for the same prompt, so it ranks images within a prompt",
                ComparableAcrossPrompts: false,
                HigherIsBetter: true),
            PreprocessingName)
        { WeightsChecksum = weightsChecksum };
    }

    public ImageRewardNetwork Network { get; }
    public RewardModelInfo Info { get; }
    public int PreferredBatchSize => _batchSize;

    /// <summary>The host may keep two batches in flight: the next is decoded while the network scores this one (one at a time).</summary>
    public int ConcurrentBatches => 2;
    public Device Device => Network.Placement.Device;
    public int ImageSize => Network.Config.Vision.ImageSize;

    /// <summary>
    /// Token ids and mask [N, 35] (int64, on the model's device) for the prompts, and which prompts were truncated
    /// (BLIP's tokenizer keeps the first 34 tokens and [SEP], like Hugging Face's <c>truncation=True</c>).
    /// </summary>
    public (Tensor InputIds, Tensor AttentionMask, bool[] Truncated) Tokenize(IReadOnlyList<string> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var encoded = prompts.Select((p, i) => EncodePrompt(p, i)).ToArray();
        return ToTensors(encoded);
    }

    private TokenizedPrompt EncodePrompt(string? prompt, int index)
    {
        if (prompt is null) throw new ArgumentException($"Prompt {index} is null.");
        var encoded = _tokenizer.Encode(prompt, TextLength);
        if (encoded.InputIds.Length != TextLength || encoded.AttentionMask.Length != TextLength)
            throw new InvalidOperationException($"The tokenizer returned {encoded.InputIds.Length} ids / {encoded.AttentionMask.Length} mask values for prompt {index}; expected {TextLength}.");
        return encoded;
    }

    private (Tensor InputIds, Tensor AttentionMask, bool[] Truncated) ToTensors(IReadOnlyList<TokenizedPrompt> encoded)
    {
        var ids = new long[encoded.Count * TextLength];
        var mask = new long[encoded.Count * TextLength];
        for (var i = 0; i < encoded.Count; i++)
        {
            encoded[i].InputIds.CopyTo(ids, i * TextLength);
            encoded[i].AttentionMask.CopyTo(mask, i * TextLength);
        }
        return (tensor(ids, [encoded.Count, TextLength], device: Device), tensor(mask, [encoded.Count, TextLength], device: Device),
            encoded.Select(e => e.Truncated).ToArray());
    }

    /// <inheritdoc />
    public Tensor RewardTensor(Tensor images, IReadOnlyList<string> prompts)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(prompts);
        if (images.dim() != 4 || images.shape[0] != prompts.Count)
            throw new ArgumentException($"Expected images [N, 3, H, W] with N = {prompts.Count} prompts, got [{string.Join(", ", images.shape)}].");
        using var scope = NewDisposeScope();
        var pixels = DifferentiablePreprocessing.ResizeCropNormalize(images.to(Device).to(Network.Placement.DType), ImageSize);
        var (ids, mask, truncated) = Tokenize(prompts);
        // A training loop sees the same prompts every step: note each truncated prompt once.
        for (var i = 0; i < prompts.Count; i++)
            if (truncated[i] && _warnedTruncation.TryAdd(prompts[i], 0))
                _logger.LogWarning("{Model}: prompt longer than {Length} tokens, truncated like the original ImageReward: \"{Prompt}\"",
                    ModelName, TextLength, prompts[i]);
        return Network.Rewards(pixels, ids, mask).MoveToOuterDisposeScope();
    }

    /// <summary>Scores already-preprocessed pixel values [N, 3, S, S] with token ids/mask [N, L]; no gradients.</summary>
    public float[] ScorePixels(Tensor pixelValues, Tensor inputIds, Tensor attentionMask)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var noGrad = no_grad();
        var results = new List<float>();
        for (long start = 0; start < pixelValues.shape[0]; start += _batchSize)
        {
            // One scope per chunk so a large request does not keep every chunk's activations alive.
            using var scope = NewDisposeScope();
            var count = Math.Min(_batchSize, pixelValues.shape[0] - start);
            var rewards = Network.Rewards(
                pixelValues.narrow(0, start, count).to(Device),
                inputIds.narrow(0, start, count).to(Device),
                attentionMask.narrow(0, start, count).to(Device));
            results.AddRange(rewards.cpu().data<float>().ToArray());
        }
        return results.ToArray();
    }

    /// <summary>
    /// Scores image + prompt pairs. An image that cannot be read or decoded (or a prompt that cannot be tokenized) fails
    /// that item only; a prompt longer than 35 tokens is scored truncated, as the original does, and logged per item.
    /// Images are decoded on all cores, chunk k+1 while the network scores chunk k.
    /// </summary>
    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(batch);
        if (_images is null)
            throw new InvalidOperationException("This ImageReward instance has no image decoder; score tensors with RewardTensor/ScorePixels instead.");

        var results = new ItemResult<double>[batch.Count];
        var tokens = new TokenizedPrompt?[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i] is null) { results[i] = ItemResult<double>.Failure($"request {i} is null"); continue; }
            try { tokens[i] = EncodePrompt(batch[i].Prompt, i); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                results[i] = ItemResult<double>.Failure($"{batch[i].Image}: {e.Message}");
            }
        }

        var chunks = Enumerable.Range(0, (batch.Count + _batchSize - 1) / _batchSize)
            .Select(c => (Start: c * _batchSize, Count: Math.Min(_batchSize, batch.Count - c * _batchSize)))
            .ToList();
        Task<Tensor?[]>? next = chunks.Count > 0 ? LoadChunkAsync(batch, tokens, chunks[0], results, cancellationToken) : null;
        try
        {
            for (var c = 0; c < chunks.Count; c++)
            {
                var pixels = await next!.ConfigureAwait(false);
                next = c + 1 < chunks.Count ? LoadChunkAsync(batch, tokens, chunks[c + 1], results, cancellationToken) : null;
                try
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    ScoreChunk(batch, tokens, chunks[c].Start, pixels, results);
                }
                finally
                {
                    foreach (var p in pixels) p?.Dispose();
                }
            }
        }
        finally
        {
            // On failure or cancellation, wait for the chunk being decoded and free it; its own error is secondary.
            if (next is not null)
            {
                try { foreach (var p in await next.ConfigureAwait(false)) p?.Dispose(); }
                catch (Exception) when (next.IsCanceled || next.IsFaulted) { }
            }
        }
        return results;
    }

    /// <summary>Reads, decodes and preprocesses one chunk on all cores; failures go straight into <paramref name="results"/>.</summary>
    private Task<Tensor?[]> LoadChunkAsync(IReadOnlyList<RewardRequest> batch, TokenizedPrompt?[] tokens, (int Start, int Count) chunk,
        ItemResult<double>[] results, CancellationToken cancellationToken) =>
        Task.Run(async () =>
        {
            var pixels = new Tensor?[chunk.Count];
            try
            {
                await Parallel.ForAsync(0, chunk.Count, cancellationToken, async (k, ct) =>
                {
                    var i = chunk.Start + k;
                    if (tokens[i] is null) return; // already failed
                    try { pixels[k] = await _images!.LoadAsync(batch[i].Image, ImageSize, ct).ConfigureAwait(false); }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // One unreadable image must not stop the run.
                        results[i] = ItemResult<double>.Failure($"{batch[i].Image}: {e.Message}");
                    }
                }).ConfigureAwait(false);
            }
            catch
            {
                foreach (var p in pixels) p?.Dispose();
                throw;
            }
            return pixels;
        }, cancellationToken);

    private void ScoreChunk(IReadOnlyList<RewardRequest> batch, TokenizedPrompt?[] tokens, int start, Tensor?[] pixels, ItemResult<double>[] results)
    {
        var ok = Enumerable.Range(0, pixels.Length).Where(k => pixels[k] is not null).ToArray();
        if (ok.Length == 0) return;
        foreach (var k in ok.Where(k => tokens[start + k]!.Truncated))
            _logger.LogWarning("{Model}: {Image}: prompt longer than {Length} tokens, scored truncated like the original ImageReward: \"{Prompt}\"",
                ModelName, batch[start + k].Image.Id, TextLength, batch[start + k].Prompt);

        float[] scores;
        lock (_computeLock)
        using (var scope = NewDisposeScope())
        {
            var stacked = stack(ok.Select(k => pixels[k]!).ToArray());
            var (ids, mask, _) = ToTensors(ok.Select(k => tokens[start + k]!).ToArray());
            scores = ScorePixels(stacked, ids, mask);
        }
        for (var j = 0; j < ok.Length; j++)
        {
            var i = start + ok[j];
            results[i] = float.IsFinite(scores[j])
                ? ItemResult<double>.Success(scores[j], tokens[i]!.Truncated
                    ? $"prompt longer than {TextLength} BERT tokens; scored truncated, as the original ImageReward does"
                    : null)
                : ItemResult<double>.Failure($"{batch[i].Image}: the reward is not finite ({scores[j]}).");
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Network.Dispose();
    }
}
