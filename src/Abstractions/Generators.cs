namespace BiasBench.Abstractions;

public sealed record GenerationRequest(string Prompt, long Seed)
{
    public string? NegativePrompt { get; init; }
    /// <summary>Labels carried to the generated image (e.g. condition=attractive).</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();
}

public sealed record GeneratedImage(GenerationRequest Request, byte[] EncodedPng, ImageProvenance Provenance);

public sealed record GeneratorInfo(string Name, string Version, string Description)
{
    /// <summary>SHA-256 (or other stable digest) of the weights, or the served model id for hosted APIs; part of the cache key.</summary>
    public string? WeightsChecksum { get; init; }
}

/// <summary>Prompts + seeds in, images with provenance out. Identical (prompt, seed) must give identical images where the backend allows.</summary>
public interface IImageGenerator : IDisposable
{
    GeneratorInfo Info { get; }
    int PreferredBatchSize => 4;
    Task<IReadOnlyList<ItemResult<GeneratedImage>>> GenerateAsync(IReadOnlyList<GenerationRequest> batch, CancellationToken cancellationToken);
}
