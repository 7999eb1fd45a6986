using System.Collections.Concurrent;
using BiasBench.Abstractions;
using BiasBench.Abstractions.Torch;
using BiasBench.Imaging;
using BiasBench.Networks.Clip;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ClipRewards;

/// <summary>
/// A reward computed from CLIP's L2-normalised image (and text) embeddings. Subclasses define the formula; this class
/// does decoding, preprocessing, tokenisation, batching, per-item failures and the differentiable path.
/// The CLIP weights are frozen (requires_grad off): gradients flow to the input pixels only.
/// </summary>
public abstract class ClipRewardModel : IDifferentiableRewardModel
{
    // Prompts repeat across a run (many images per prompt); their embeddings are cheap to keep.
    private const int MaxCachedPrompts = 4096;

    private readonly IClipImagePipeline _images;
    private readonly IClipPromptTokenizer? _tokenizer;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, byte> _warnedTruncation = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]> _textEmbeddingCache = new(StringComparer.Ordinal);
    private readonly object _computeLock = new();
    private readonly object _stagingLock = new(); // not the compute lock: the next chunk is prepared while one computes
    private PixelStaging? _staging;
    private bool _disposed;

    /// <param name="clip">The loaded CLIP model, already on its device (the reward model owns and disposes it).</param>
    /// <param name="images">Decoder + preprocessing for this model's input size.</param>
    /// <param name="tokenizer">Prompt tokenizer; null for models that ignore the prompt.</param>
    protected ClipRewardModel(ClipModel clip, IClipImagePipeline images, IClipPromptTokenizer? tokenizer, int batchSize, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(clip);
        ArgumentNullException.ThrowIfNull(images);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        if (images.Size != clip.Config.Vision.ImageSize)
            throw new ArgumentException($"The image pipeline produces {images.Size}px squares but the CLIP vision tower takes {clip.Config.Vision.ImageSize}px.", nameof(images));
        if (tokenizer is not null && tokenizer.ContextLength != clip.Config.Text.ContextLength)
            throw new ArgumentException($"The tokenizer pads to {tokenizer.ContextLength} tokens but the CLIP text tower takes {clip.Config.Text.ContextLength}.", nameof(tokenizer));
        Clip = clip;
        _images = images;
        _tokenizer = tokenizer;
        _logger = logger ?? NullLogger.Instance;
        PreferredBatchSize = batchSize;
        foreach (var p in clip.parameters()) p.requires_grad_(false);
    }

    public ClipModel Clip { get; }
    public abstract RewardModelInfo Info { get; }
    public int PreferredBatchSize { get; }
    public Device Device => Clip.Device;
    public IClipImagePipeline Images => _images;

    /// <summary>Whether the score depends on the prompt.</summary>
    public bool UsesPrompt => _tokenizer is not null;

    /// <summary>
    /// The reward for each row of L2-normalised float32 embeddings: image [N, D] and text [N, D] (null when the
    /// model ignores prompts). Returns float32 [N]; must stay differentiable.
    /// </summary>
    protected abstract Tensor ScoreEmbeddings(Tensor imageEmbeds, Tensor? textEmbeds);

    /// <summary>Ids (and mask) [N, context] on the model's device; the mask is only used by Hugging Face CLIP.</summary>
    public (Tensor InputIds, Tensor? AttentionMask, IReadOnlyList<ClipPromptTokens> Tokens) Tokenize(IReadOnlyList<string> prompts)
    {
        var tokenizer = _tokenizer ?? throw new InvalidOperationException($"{Info.Name} ignores prompts and has no tokenizer.");
        var length = tokenizer.ContextLength;
        var ids = new long[prompts.Count * length];
        var mask = new long[prompts.Count * length];
        var tokens = new ClipPromptTokens[prompts.Count];
        for (var i = 0; i < prompts.Count; i++)
        {
            var prompt = prompts[i] ?? throw new ArgumentException($"Prompt {i} is null.", nameof(prompts));
            var encoded = tokenizer.Encode(prompt);
            if (encoded.InputIds.Length != length || encoded.AttentionMask.Length != length)
                throw new InvalidOperationException($"The tokenizer returned {encoded.InputIds.Length} ids for prompt {i}; expected {length}.");
            if (encoded.Truncated && _warnedTruncation.TryAdd(prompt, 0))
                _logger.LogWarning("{Model}: prompt has {Tokens} tokens, more than CLIP's {Context}; it was truncated like the original (end token kept): \"{Prompt}\"",
                    Info.Name, encoded.TokenCount, length, prompt);
            encoded.InputIds.CopyTo(ids, i * length);
            encoded.AttentionMask.CopyTo(mask, i * length);
            tokens[i] = encoded;
        }
        var idTensor = tensor(ids, [prompts.Count, length], device: Device);
        // open_clip (HPS) passes no padding mask: its causal mask and argmax pooling ignore padding by construction.
        var maskTensor = Clip.Config.Layout == ClipLayout.HuggingFace ? tensor(mask, [prompts.Count, length], device: Device) : null;
        return (idTensor, maskTensor, tokens);
    }

    /// <summary>L2-normalised float32 text embeddings [N, D] of the prompts (no gradients; the text side is fixed).</summary>
    public Tensor EncodePrompts(IReadOnlyList<string> prompts)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (ids, mask, _) = Tokenize(prompts);
        return Clip.EncodeText(ids, mask).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rewards [N] (float32) for already preprocessed, normalised pixels [N,3,S,S] and their prompts. Keeps the autograd
    /// graph to <paramref name="pixelValues"/>; wrap in no_grad for inference.
    /// </summary>
    public Tensor ScorePixels(Tensor pixelValues, IReadOnlyList<string> prompts)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(pixelValues);
        if (pixelValues.ndim != 4 || pixelValues.shape[1] != 3)
            throw new ArgumentException($"Pixel values must be [N, 3, H, W], got [{string.Join(", ", pixelValues.shape)}].", nameof(pixelValues));
        if (UsesPrompt && prompts.Count != pixelValues.shape[0])
            throw new ArgumentException($"{pixelValues.shape[0]} images but {prompts.Count} prompts.", nameof(prompts));
        using var scope = NewDisposeScope();
        var image = Clip.EncodeImage(pixelValues.to(Clip.DType, Device));
        var text = UsesPrompt ? EncodePrompts(prompts) : null;
        return ScoreEmbeddings(image, text).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The network path alone: rewards [N] for normalised pixels [N,3,S,S] and already tokenised prompts [N, context]
    /// (<paramref name="inputIds"/> is ignored by prompt-free models). Keeps the autograd graph to the pixels.
    /// </summary>
    public Tensor Score(Tensor pixelValues, Tensor? inputIds, Tensor? attentionMask = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(pixelValues);
        using var scope = NewDisposeScope();
        var image = Clip.EncodeImage(pixelValues.to(Clip.DType, Device));
        Tensor? text = null;
        if (UsesPrompt)
        {
            if (inputIds is null) throw new ArgumentNullException(nameof(inputIds), $"{Info.Name} scores image + prompt pairs; pass the prompt ids.");
            if (inputIds.shape[0] != pixelValues.shape[0])
                throw new ArgumentException($"{pixelValues.shape[0]} images but {inputIds.shape[0]} prompts.", nameof(inputIds));
            using (no_grad())
            {
                // open_clip (HPS) passes no padding mask (see Tokenize).
                var mask = Clip.Config.Layout == ClipLayout.HuggingFace ? attentionMask?.to(Device) : null;
                text = Clip.EncodeText(inputIds.to(ScalarType.Int64, Device), mask);
            }
        }
        return ScoreEmbeddings(image, text).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor RewardTensor(Tensor images, IReadOnlyList<string> prompts)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(prompts);
        if (images.ndim != 4 || images.shape[1] != 3)
            throw new ArgumentException($"Images must be [N, 3, H, W] in [0, 1], got [{string.Join(", ", images.shape)}].", nameof(images));
        if (prompts.Count != images.shape[0])
            throw new ArgumentException($"{images.shape[0]} images but {prompts.Count} prompts.", nameof(prompts));
        using var scope = NewDisposeScope();
        var pixels = _images.PreprocessTensor(images.to(ScalarType.Float32));
        return ScorePixels(pixels, prompts).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The host may keep two batches in flight: while the device scores one, the next is decoded on the CPU (the network
    /// itself runs one batch at a time).
    /// </summary>
    public int ConcurrentBatches => 2;

    private PixelStaging Staging
    {
        get
        {
            lock (_stagingLock) return _staging ??= new PixelStaging(PreferredBatchSize, _images.Size, Device);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(batch);
        var results = new ItemResult<double>[batch.Count];
        // CPU preprocessing of chunk k+1 overlaps with the network on chunk k.
        var chunks = Enumerable.Range(0, (batch.Count + PreferredBatchSize - 1) / PreferredBatchSize)
            .Select(c => (Start: c * PreferredBatchSize, Count: Math.Min(PreferredBatchSize, batch.Count - c * PreferredBatchSize)))
            .ToList();
        Task<PreparedChunk>? next = chunks.Count > 0 ? PrepareAsync(batch, chunks[0], results, cancellationToken) : null;
        try
        {
            for (var c = 0; c < chunks.Count; c++)
            {
                using var prepared = await next!.ConfigureAwait(false);
                next = c + 1 < chunks.Count ? PrepareAsync(batch, chunks[c + 1], results, cancellationToken) : null;
                cancellationToken.ThrowIfCancellationRequested();
                ComputeChunk(batch, prepared, results);
            }
        }
        finally
        {
            // When the network throws or the run is cancelled, do not leave the next chunk's decoding running unobserved.
            // Its own failure (usually the same cancellation) is secondary to the exception already propagating.
            if (next is not null)
            {
                try { (await next.ConfigureAwait(false)).Dispose(); }
                catch (Exception) when (next.IsCanceled || next.IsFaulted) { }
            }
        }
        return results;
    }

    /// <summary>A chunk's images, preprocessed in place in a staging buffer: slot j holds chunk item <see cref="Items"/>[j].</summary>
    private sealed class PreparedChunk(PixelStaging.Lease pixels, int start, List<int> items) : IDisposable
    {
        public PixelStaging.Lease Pixels { get; } = pixels;
        public int Start { get; } = start;
        public List<int> Items { get; } = items;
        public void Dispose() => Pixels.Dispose();
    }

    /// <summary>
    /// Reads, decodes and preprocesses one chunk in parallel, each image straight into its slot of a staging buffer
    /// (pinned on a GPU); failures go into <paramref name="results"/> and the slots after a failed one move up.
    /// </summary>
    private Task<PreparedChunk> PrepareAsync(IReadOnlyList<RewardRequest> batch, (int Start, int Count) chunk, ItemResult<double>[] results, CancellationToken ct) =>
        Task.Run(async () =>
        {
            var bytes = await Task.WhenAll(Enumerable.Range(chunk.Start, chunk.Count).Select(async i =>
            {
                try { return (Bytes: await batch[i].Image.ReadBytesAsync(ct).ConfigureAwait(false), Error: (string?)null); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return (Bytes: ReadOnlyMemory<byte>.Empty, Error: $"cannot read image {batch[i].Image}: {e.Message}");
                }
            })).ConfigureAwait(false);
            var lease = Staging.Rent();
            try
            {
                var ok = new bool[chunk.Count];
                Parallel.For(0, chunk.Count, new ParallelOptions { CancellationToken = ct }, k =>
                {
                    var i = chunk.Start + k;
                    if (bytes[k].Error is { } readError) { results[i] = ItemResult<double>.Failure(readError); return; }
                    if (UsesPrompt && batch[i].Prompt is null) { results[i] = ItemResult<double>.Failure($"image {batch[i].Image}: the prompt is null."); return; }
                    try
                    {
                        _images.PreprocessInto(bytes[k].Bytes, lease.Slot(k), batch[i].Image.ToString());
                        ok[k] = true;
                    }
                    catch (BiasBench.Imaging.ImageDecodeException e)
                    {
                        // Its message already names the image and the reason.
                        results[i] = ItemResult<double>.Failure(e.Message);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        results[i] = ItemResult<double>.Failure($"cannot preprocess image {batch[i].Image}: {e.Message}");
                    }
                });
                var items = new List<int>(chunk.Count);
                for (var k = 0; k < chunk.Count; k++)
                {
                    if (!ok[k]) continue;
                    lease.Move(k, items.Count);
                    items.Add(k);
                }
                return new PreparedChunk(lease, chunk.Start, items);
            }
            catch
            {
                lease.Dispose();
                throw;
            }
        }, ct);

    private void ComputeChunk(IReadOnlyList<RewardRequest> batch, PreparedChunk chunk, ItemResult<double>[] results)
    {
        var ok = chunk.Items;
        if (ok.Count == 0) return;
        var start = chunk.Start;
        var prompts = ok.Select(k => batch[start + k].Prompt ?? "").ToList();
        double[] scores;
        lock (_computeLock)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var image = Clip.EncodeImage(chunk.Pixels.Upload(ok.Count, Clip.DType));
            var text = UsesPrompt ? CachedTextEmbeddings(prompts) : null;
            scores = ScoreEmbeddings(image, text).to(ScalarType.Float64).cpu().data<double>().ToArray();
        }
        for (var j = 0; j < ok.Count; j++)
        {
            var i = start + ok[j];
            results[i] = double.IsFinite(scores[j])
                ? ItemResult<double>.Success(scores[j], UsesPrompt && _warnedTruncation.ContainsKey(prompts[j])
                    ? $"prompt longer than {_tokenizer!.ContextLength} CLIP tokens; scored truncated (end token kept), as the original does"
                    : null)
                : ItemResult<double>.Failure($"image {batch[i].Image}: the model produced a non-finite score ({scores[j]}).");
        }
    }

    private Tensor CachedTextEmbeddings(IReadOnlyList<string> prompts)
    {
        var missing = prompts.Distinct(StringComparer.Ordinal).Where(p => !_textEmbeddingCache.ContainsKey(p)).ToList();
        if (missing.Count > 0)
        {
            if (_textEmbeddingCache.Count + missing.Count > MaxCachedPrompts) _textEmbeddingCache.Clear();
            using var embeds = EncodePrompts(missing);
            using var cpu = embeds.cpu();
            var width = (int)cpu.shape[1];
            var values = cpu.data<float>().ToArray();
            for (var m = 0; m < missing.Count; m++) _textEmbeddingCache[missing[m]] = values.AsSpan(m * width, width).ToArray();
        }
        var dim = _textEmbeddingCache[prompts[0]].Length;
        var flat = new float[prompts.Count * dim];
        for (var i = 0; i < prompts.Count; i++) _textEmbeddingCache[prompts[i]].CopyTo(flat, i * dim);
        return tensor(flat, [prompts.Count, dim], device: Device);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeCore();
        _staging?.Dispose();
        Clip.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases subclass resources (heads) before the CLIP model.</summary>
    protected virtual void DisposeCore() { }
}
