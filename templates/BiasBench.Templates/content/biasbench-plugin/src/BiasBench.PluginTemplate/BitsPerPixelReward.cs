using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;

namespace BiasBench.PluginTemplate;

/// <summary>Options, bound from the config's <c>options:</c> (snake_case) and validated before any work starts.</summary>
public sealed class BitsPerPixelOptions
{
    /// <summary>Files smaller than this are reported as per-item errors (e.g. empty or truncated downloads).</summary>
    [Range(1, int.MaxValue)]
    public int MinimumBytes { get; set; } = 64;
}

/// <summary>
/// Encoded bits per pixel: 8 x file size / (width x height), the size read from the PNG or JPEG header. An encoder
/// spends more bits on texture and fine detail than on flat regions, so this is a crude detail proxy that ignores the
/// prompt (and is therefore comparable across prompts). It also depends on the format and encoder quality, so compare
/// images that were encoded alike.
/// </summary>
public sealed class BitsPerPixelReward(BitsPerPixelOptions options) : IRewardModel
{
    public const string Name = "my-component";

    public RewardModelInfo Info { get; } = new(Name, Plugin.Version,
        new ScoreSemantics("encoded bits per pixel (8 x file bytes / (width x height))", ComparableAcrossPrompts: true, Minimum: 0),
        "none (encoded bytes; size from the PNG/JPEG header)");

    public int PreferredBatchSize => 32;

    public async Task<IReadOnlyList<ItemResult<double>>> ScoreAsync(IReadOnlyList<RewardRequest> batch, CancellationToken cancellationToken)
    {
        var results = new List<ItemResult<double>>(batch.Count);
        foreach (var request in batch)
        {
            var bytes = await request.Image.ReadBytesAsync(cancellationToken);
            results.Add(Score(request.Image, bytes.Span, options));
        }
        return results;
    }

    /// <summary>One image's score, or a per-item error that names the image (a bad file never stops a run).</summary>
    public static ItemResult<double> Score(ImageRef image, ReadOnlySpan<byte> encoded, BitsPerPixelOptions options)
    {
        if (encoded.Length < options.MinimumBytes)
            return ItemResult<double>.Failure($"{image}: {encoded.Length} bytes is below minimum_bytes={options.MinimumBytes}");
        if (!ImageHeader.TryReadSize(encoded, out var width, out var height, out var error))
            return ItemResult<double>.Failure($"{image}: {error}");
        return ItemResult<double>.Success(8.0 * encoded.Length / ((double)width * height));
    }

    public void Dispose() { }
}
