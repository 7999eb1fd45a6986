using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;

namespace BiasBench.PluginTemplate;

/// <summary>Options, bound from the config's <c>options:</c> (snake_case) and validated before any work starts.</summary>
public sealed class DetailJudgeOptions
{
    /// <summary>Encoded bits per pixel at which an image is as likely 'detailed' as 'plain'.</summary>
    [Range(0.0, 64.0)]
    public double ThresholdBitsPerPixel { get; set; } = 1.0;

    /// <summary>Width of the logistic transition, in bits per pixel (smaller = sharper decision).</summary>
    [Range(1e-6, 64.0)]
    public double Scale { get; set; } = 0.25;
}

/// <summary>
/// Judges an image 'detailed' or 'plain' from its encoded bits per pixel b (8 x file size / (width x height), the size
/// from the PNG/JPEG header): p(detailed) = 1 / (1 + exp(-(b - threshold) / scale)). A minimal, transparent judge to
/// copy from; a real one would run a classifier or ask a VLM.
/// </summary>
public sealed class DetailJudge(DetailJudgeOptions options) : IJudge
{
    public const string Name = "my-component";
    public const string Detailed = "detailed", Plain = "plain";

    public JudgeInfo Info { get; } = new(Name, Plugin.Version, [Detailed, Plain],
        "p(detailed) = logistic((encoded bits per pixel - threshold) / scale)");

    public int PreferredBatchSize => 32;

    public async Task<IReadOnlyList<ItemResult<Judgement>>> JudgeAsync(IReadOnlyList<ImageRef> batch, CancellationToken cancellationToken)
    {
        var results = new List<ItemResult<Judgement>>(batch.Count);
        foreach (var image in batch)
        {
            var bytes = await image.ReadBytesAsync(cancellationToken);
            results.Add(Judge(image, bytes.Span));
        }
        return results;
    }

    public ItemResult<Judgement> Judge(ImageRef image, ReadOnlySpan<byte> encoded)
    {
        if (!ImageHeader.TryReadSize(encoded, out var width, out var height, out var error))
            return ItemResult<Judgement>.Failure($"{image}: {error}");
        var bitsPerPixel = 8.0 * encoded.Length / ((double)width * height);
        var pDetailed = 1.0 / (1.0 + Math.Exp(-(bitsPerPixel - options.ThresholdBitsPerPixel) / options.Scale));
        var label = pDetailed >= 0.5 ? Detailed : Plain;
        return ItemResult<Judgement>.Success(new Judgement(label, new Dictionary<string, double> { [Detailed] = pDetailed, [Plain] = 1 - pDetailed })
        {
            Rationale = $"{bitsPerPixel:F3} bits per pixel ({width}x{height}, {encoded.Length} bytes)",
        });
    }

    public void Dispose() { }
}
