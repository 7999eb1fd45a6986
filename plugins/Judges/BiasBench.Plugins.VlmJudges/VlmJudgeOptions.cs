using System.ComponentModel.DataAnnotations;
using BiasBench.Hosted;

namespace BiasBench.Plugins.VlmJudges;

/// <summary>Options shared by the VLM judges: an OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, LM Studio, ...).</summary>
public abstract class VlmJudgeOptions : RemoteApiOptions
{
    protected VlmJudgeOptions() { ApiKeyEnv = "OPENAI_API_KEY"; }

    protected override string? DefaultEndpoint => "https://api.openai.com/v1";

    /// <summary>How many top log-probabilities to ask for per token (OpenAI allows up to 20); 0 = none (hard labels only).</summary>
    [Range(0, 20)] public int TopLogprobs { get; set; } = 20;

    /// <summary>Most answer tokens (the answer is one word or digit).</summary>
    [Range(1, 4096)] public int MaxOutputTokens { get; set; } = 4;

    /// <summary>Sent as the request seed where the server honours one (temperature is always 0).</summary>
    public long? Seed { get; set; }
}

public sealed class RealFakeOptions : VlmJudgeOptions
{
    public const string DefaultPrompt =
        "Is this photograph of a face a real photo of a real person, or is it AI-generated? Answer with exactly one word: real or fake.";

    /// <summary>The question (recorded with every judgement); it must ask for the one-word answer 'real' or 'fake'.</summary>
    [Required] public string Prompt { get; set; } = DefaultPrompt;
}

public sealed class PairwiseOptions : VlmJudgeOptions
{
    public const string DefaultPrompt =
        "Here are two photographs of faces: image A first, then image B. Exactly one of them is AI-generated. " +
        "Which one is AI-generated? Answer with exactly one letter: A or B.";

    /// <summary>Folder of partner faces; each judged image is paired with one of them (chosen from the image's SHA-256) and asked in both orders.</summary>
    [Required] public string? PartnerDirectory { get; set; }

    public List<string> PartnerPatterns { get; set; } = ["*.jpg", "*.jpeg", "*.png", "*.webp"];

    [Required] public string Prompt { get; set; } = DefaultPrompt;

    public override int RequestsPerItem() => 2;
}

public sealed class RaterOptions : VlmJudgeOptions
{
    public const string DefaultPreamble =
        "You are rating an image on one dimension. Read the guideline and answer with exactly one digit: the score of the option that fits the image best.";

    /// <summary>The rules table: CSV with columns Dimension, Option, Score, Description (one row per option of a dimension).</summary>
    [Required] public string? RulesFile { get; set; }

    /// <summary>Dimensions not to ask about.</summary>
    public List<string> SkipDimensions { get; set; } = [];

    /// <summary>Images are resized to this square size (bicubic) before sending.</summary>
    [Range(16, 4096)] public int ImageSize { get; set; } = 512;

    [Required] public string Preamble { get; set; } = DefaultPreamble;

    public override int RequestsPerItem()
    {
        if (RulesFile is null || !File.Exists(RulesFile)) return 0;
        try { return RaterRules.Load(RulesFile).Dimensions.Count(d => !SkipDimensions.Contains(d.Name, StringComparer.OrdinalIgnoreCase)); }
        catch (InvalidDataException) { return 0; }
    }

    public override IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var r in base.Validate(validationContext)) yield return r;
        if (RulesFile is null || !File.Exists(RulesFile)) yield break;
        RaterRules? rules = null;
        string? error = null;
        try { rules = RaterRules.Load(RulesFile); }
        catch (InvalidDataException e) { error = e.Message; }
        if (error is not null) { yield return new ValidationResult(error, [nameof(RulesFile)]); yield break; }
        foreach (var skip in SkipDimensions.Where(s => !rules!.Dimensions.Any(d => d.Name.Equals(s, StringComparison.OrdinalIgnoreCase))))
            yield return new ValidationResult($"skip_dimensions names '{skip}', which is not a dimension of {RulesFile} ({string.Join(", ", rules!.Dimensions.Select(d => d.Name))}).", [nameof(SkipDimensions)]);
    }
}
