using BiasBench.Abstractions;
using BiasBench.Hosted;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.VlmJudges;

/// <summary>
/// vlm-real-fake: one image, a fixed recorded prompt, temperature 0. P(real) comes from the first answer token's
/// top log-probabilities: the probabilities of every spelling of "real" and of "fake" (case, leading space) are
/// summed and renormalised over the two. Without log-probabilities the parsed answer is a hard 0/1 label, marked
/// in probability_source. judged_real (0/1) is the verdict column the judge-bias analysis reads by default.
/// </summary>
public sealed class RealFakeJudge(RealFakeOptions options, HostedSession session, ILogger? logger)
    : VlmJudgeBase("vlm-real-fake", VlmJudgesPlugin.Version, ["real", "fake"], $"{options.Model} at {session.EndpointLabel}: real photo or AI-generated?", options, session, logger)
{
    private static readonly string[] Answers = ["real", "fake"];

    protected override async Task<ItemResult<Judgement>> JudgeOneAsync(ImageRef image, CancellationToken ct)
    {
        var picture = await ReadImageAsync(image, ct);
        var answer = await AskAsync(options.Prompt, [picture], ct);
        if (answer.Refusal is { } refusal) return ItemResult<Judgement>.Refusal($"{image.Id}: refused: {refusal}");
        var p = Probabilities(answer, Answers);
        if (p is null) return ItemResult<Judgement>.Failure($"{image.Id}: the answer {Quote(answer.Text)} is neither 'real' nor 'fake' and carries no usable log-probabilities");
        var pReal = p.P[0];
        var label = p.ParsedAnswer ?? (pReal >= 0.5 ? "real" : "fake");
        var details = new Dictionary<string, string>
        {
            ["vlm_answer"] = answer.Text,
            ["probability_source"] = p.Source,
            ["logprobs"] = LogProbsJson(answer),
            ["judge_prompt"] = options.Prompt,
        };
        AddBookkeeping(details, answer);
        return ItemResult<Judgement>.Success(new Judgement(label, new Dictionary<string, double> { ["real"] = pReal, ["fake"] = 1 - pReal })
        {
            Values = new Dictionary<string, double> { ["judged_real"] = label == "real" ? 1 : 0, ["hard_label"] = p.IsHardLabel ? 1 : 0 },
            Details = details,
        });
    }
}
