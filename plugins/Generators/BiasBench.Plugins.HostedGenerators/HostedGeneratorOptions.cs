using System.ComponentModel.DataAnnotations;
using BiasBench.Hosted;

namespace BiasBench.Plugins.HostedGenerators;

/// <summary>OpenAI Images (gpt-image-1, dall-e-3) at api.openai.com or any endpoint speaking the same API.</summary>
public class OpenAiImagesOptions : RemoteApiOptions
{
    public OpenAiImagesOptions() { Model = "gpt-image-1"; ApiKeyEnv = "OPENAI_API_KEY"; }

    protected override string? DefaultEndpoint => "https://api.openai.com/v1";

    /// <summary>e.g. 1024x1024 (empty = the API's default).</summary>
    [RegularExpression("^(auto|[0-9]+x[0-9]+)$", ErrorMessage = "size must be WIDTHxHEIGHT (e.g. 1024x1024) or auto.")]
    public string? Size { get; set; }

    /// <summary>e.g. low/medium/high (gpt-image-1), standard/hd (dall-e-3).</summary>
    public string? Quality { get; set; }

    /// <summary>b64_json or url (dall-e only; gpt-image-1 always returns base64). URLs are downloaded at once.</summary>
    [RegularExpression("^(b64_json|url)$", ErrorMessage = "response_format must be b64_json or url.")]
    public string? ResponseFormat { get; set; }

    /// <summary>vivid or natural (dall-e-3).</summary>
    public string? Style { get; set; }

    /// <summary>Further body fields sent as they are (numbers and true/false are sent as JSON numbers and booleans).</summary>
    public Dictionary<string, string> ExtraParameters { get; set; } = [];

    /// <summary>Body field that carries the seed; empty = the API takes none (OpenAI's does not), and the seed is recorded as unsupported.</summary>
    public virtual string? SeedParameter { get; set; }

    public override int RequestsPerItem() => ResponseFormat == "url" ? 2 : 1;
}

/// <summary>An OpenAI-compatible images endpoint (a local or third-party server): the endpoint must be given; the seed goes in 'seed'.</summary>
public sealed class OpenAiCompatibleImagesOptions : OpenAiImagesOptions
{
    public OpenAiCompatibleImagesOptions() { Model = ""; ApiKeyEnv = null; SeedParameter = "seed"; }

    protected override string? DefaultEndpoint => null;
}

/// <summary>Gemini image output ("Nano Banana", gemini-2.5-flash-image) through generateContent.</summary>
public sealed class GeminiImagesOptions : RemoteApiOptions
{
    public GeminiImagesOptions() { Model = "gemini-2.5-flash-image"; ApiKeyEnv = "GEMINI_API_KEY"; }

    protected override string? DefaultEndpoint => "https://generativelanguage.googleapis.com/v1beta";

    /// <summary>Send the seed in generationConfig.seed (recorded either way).</summary>
    public bool SendSeed { get; set; } = true;

    /// <summary>generationConfig.imageConfig.aspectRatio, e.g. 1:1 (empty = the model's default).</summary>
    [RegularExpression("^[0-9]+:[0-9]+$", ErrorMessage = "aspect_ratio must look like 1:1 or 16:9.")]
    public string? AspectRatio { get; set; }

    public double? Temperature { get; set; }
}
