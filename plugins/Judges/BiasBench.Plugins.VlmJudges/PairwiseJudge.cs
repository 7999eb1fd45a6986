using System.Security.Cryptography;
using BiasBench.Abstractions;
using BiasBench.Hosted;
using Microsoft.Extensions.Logging;

namespace BiasBench.Plugins.VlmJudges;

/// <summary>
/// vlm-pairwise: each judged image is shown with a partner face (from partner_directory, chosen by the image's
/// SHA-256 so the pairing is stable) and the VLM is asked which one is AI-generated, in both orders (image first,
/// then image second). Per item: P(the image is called AI) in each order, their mean, and the position bias
/// (mean P(answer "A") over the two orders minus 0.5: 0 = no preference for the first position).
/// </summary>
public sealed class PairwiseJudge : VlmJudgeBase
{
    private static readonly string[] Answers = ["a", "b"];
    private readonly PairwiseOptions _options;
    private readonly IReadOnlyList<string> _partners;

    public PairwiseJudge(PairwiseOptions options, HostedSession session, ILogger? logger)
        : base("vlm-pairwise", VlmJudgesPlugin.Version, ["real", "ai"], $"{options.Model} at {session.EndpointLabel}: which of two faces is AI-generated (both orders)", options, session, logger)
    {
        _options = options;
        var dir = options.PartnerDirectory!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"partner_directory '{dir}' does not exist.");
        _partners = options.PartnerPatterns.SelectMany(p => Directory.EnumerateFiles(dir, p)).Distinct().Order(StringComparer.Ordinal).ToList();
        if (_partners.Count == 0) throw new FileNotFoundException($"partner_directory '{dir}' has no images matching {string.Join(", ", options.PartnerPatterns)}.");
    }

    protected override async Task<ItemResult<Judgement>> JudgeOneAsync(ImageRef image, CancellationToken ct)
    {
        var picture = await ReadImageAsync(image, ct);
        var hash = SHA256.HashData(picture.Bytes);
        var candidates = _partners.Where(p => !SameFile(p, image.Path)).ToList();
        if (candidates.Count == 0) return ItemResult<Judgement>.Failure($"{image.Id}: no partner image other than itself");
        var partnerPath = candidates[(int)(BitConverter.ToUInt32(hash, 0) % (uint)candidates.Count)];
        var partner = await ReadImageAsync(ImageRef.FromFile(Path.GetFileName(partnerPath), partnerPath), ct);

        var first = AskAsync(_options.Prompt, [picture, partner], ct);   // the image is A
        var second = AskAsync(_options.Prompt, [partner, picture], ct);  // the image is B
        var answers = await Task.WhenAll(first, second);
        if (answers.FirstOrDefault(a => a.Refusal is not null) is { } refused) return ItemResult<Judgement>.Refusal($"{image.Id}: refused: {refused.Refusal}");
        var p1 = Probabilities(answers[0], Answers);
        var p2 = Probabilities(answers[1], Answers);
        if (p1 is null || p2 is null)
        {
            var bad = p1 is null ? answers[0] : answers[1];
            return ItemResult<Judgement>.Failure($"{image.Id}: the answer {Quote(bad.Text)} is neither 'A' nor 'B' and carries no usable log-probabilities");
        }
        var aiFirst = p1.P[0];          // P(A) with the image as A
        var aiSecond = p2.P[1];         // P(B) with the image as B
        var pAi = (aiFirst + aiSecond) / 2;
        var positionBias = (p1.P[0] + p2.P[0]) / 2 - 0.5;
        var label = pAi > 0.5 ? "ai" : pAi < 0.5 ? "real" : "tie";
        var values = new Dictionary<string, double>
        {
            ["p_ai_image_first"] = aiFirst, ["p_ai_image_second"] = aiSecond, ["p_ai_mean"] = pAi,
            ["p_answer_a_order1"] = p1.P[0], ["p_answer_a_order2"] = p2.P[0], ["position_bias"] = positionBias,
            ["hard_label"] = p1.IsHardLabel || p2.IsHardLabel ? 1 : 0,
        };
        if (label != "tie") values["judged_real"] = label == "real" ? 1 : 0;
        var details = new Dictionary<string, string>
        {
            ["partner_id"] = Path.GetFileName(partnerPath),
            ["answer_order1"] = answers[0].Text, ["answer_order2"] = answers[1].Text,
            ["probability_source_order1"] = p1.Source, ["probability_source_order2"] = p2.Source,
            ["logprobs_order1"] = LogProbsJson(answers[0]), ["logprobs_order2"] = LogProbsJson(answers[1]),
            ["judge_prompt"] = _options.Prompt,
        };
        AddBookkeeping(details, answers[0], "_order1");
        AddBookkeeping(details, answers[1], "_order2");
        return ItemResult<Judgement>.Success(new Judgement(label, new Dictionary<string, double> { ["real"] = 1 - pAi, ["ai"] = pAi })
        {
            Values = values, Details = details,
        });
    }

    private static bool SameFile(string a, string? b) => b is not null && Path.GetFullPath(a) == Path.GetFullPath(b);
}
