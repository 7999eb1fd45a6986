using System.Globalization;
using System.Text;
using BiasBench.Abstractions;
using BiasBench.Hosted;
using BiasBench.Imaging;
using Microsoft.Extensions.Logging;
using SkiaSharp;

namespace BiasBench.Plugins.VlmJudges;

/// <summary>
/// vlm-rater (VisionReward-style multi-dimension rater): one question per dimension of the rules table with its
/// guideline (every option's score, name and description), the image resized to image_size x image_size. Per
/// dimension the expected score sum_k k * p(k) over the score tokens (softmax of their log-probabilities, i.e.
/// renormalised over the scores) and the argmax; without log-probabilities the parsed digit, marked as a hard label.
/// </summary>
public sealed class RaterJudge : VlmJudgeBase
{
    private readonly RaterOptions _options;
    private readonly IReadOnlyList<RaterDimension> _dimensions;

    public RaterJudge(RaterOptions options, HostedSession session, ILogger? logger)
        : base("vlm-rater", VlmJudgesPlugin.Version, [], $"{options.Model} at {session.EndpointLabel}: per-dimension scores from a rules table", options, session, logger)
    {
        _options = options;
        _dimensions = RaterRules.Load(options.RulesFile!).Dimensions
            .Where(d => !options.SkipDimensions.Contains(d.Name, StringComparer.OrdinalIgnoreCase)).ToList();
        if (_dimensions.Count == 0) throw new InvalidDataException($"{options.RulesFile}: every dimension is skipped.");
    }

    public IReadOnlyList<RaterDimension> Dimensions => _dimensions;

    /// <summary>The question for one dimension (recorded with each judgement).</summary>
    public string Question(RaterDimension d)
    {
        var sb = new StringBuilder();
        sb.AppendLine(_options.Preamble);
        sb.AppendLine($"Dimension: {d.Name}");
        sb.AppendLine("Guideline:");
        foreach (var o in d.Options.OrderBy(o => o.Score)) sb.AppendLine($"{o.Score}: {o.Option} - {o.Description}");
        sb.Append($"Answer with one digit: {string.Join(", ", d.Scores)}.");
        return sb.ToString();
    }

    protected override async Task<ItemResult<Judgement>> JudgeOneAsync(ImageRef image, CancellationToken ct)
    {
        var original = await image.ReadBytesAsync(ct);
        var png = Resize(original.Span, image.ToString(), _options.ImageSize);
        var asked = await Task.WhenAll(_dimensions.Select(async d => (Dimension: d, Answer: await AskAsync(Question(d), [(png, "image/png")], ct))));
        var values = new Dictionary<string, double>();
        var details = new Dictionary<string, string> { ["judge_prompt"] = _options.Preamble };
        var total = 0.0;
        foreach (var (d, answer) in asked)
        {
            if (answer.Refusal is { } refusal) return ItemResult<Judgement>.Refusal($"{image.Id}: refused on '{d.Name}': {refusal}");
            var tokens = d.Scores.Select(s => s.ToString(CultureInfo.InvariantCulture)).ToList();
            var p = Probabilities(answer, tokens);
            if (p is null) return ItemResult<Judgement>.Failure($"{image.Id}: the answer {Quote(answer.Text)} on '{d.Name}' is not one of {string.Join("/", tokens)} and carries no usable log-probabilities");
            var (expected, argmax) = Score(d.Scores, p.P);
            values[$"rater_{d.Slug}"] = expected;
            values[$"rater_{d.Slug}_argmax"] = argmax;
            total += expected;
            details[$"rater_{d.Slug}_logprobs"] = LogProbsJson(answer);
            details[$"rater_{d.Slug}_source"] = p.Source;
            details[$"rater_{d.Slug}_answer"] = answer.Text;
        }
        values["rater_total"] = total;
        AddBookkeeping(details, asked[0].Answer);
        details["input_tokens"] = asked.Sum(a => a.Answer.InputTokens ?? 0).ToString(CultureInfo.InvariantCulture);
        details["output_tokens"] = asked.Sum(a => a.Answer.OutputTokens ?? 0).ToString(CultureInfo.InvariantCulture);
        return ItemResult<Judgement>.Success(new Judgement("rated", new Dictionary<string, double>()) { Values = values, Details = details });
    }

    /// <summary>Expected score sum_k k * p(k) and the argmax score (the first on ties).</summary>
    public static (double Expected, int Argmax) Score(IReadOnlyList<int> scores, IReadOnlyList<double> p)
    {
        var expected = 0.0; var best = 0;
        for (var k = 0; k < scores.Count; k++)
        {
            expected += scores[k] * p[k];
            if (p[k] > p[best]) best = k;
        }
        return (expected, scores[best]);
    }

    /// <summary>Decoded, resized to size x size (PIL-exact bicubic), PNG-encoded.</summary>
    internal static byte[] Resize(ReadOnlySpan<byte> encoded, string source, int size)
    {
        var rgb = ImageDecoder.Decode(encoded, source);
        var resized = rgb.Width == size && rgb.Height == size ? rgb : PilResize.Bicubic(rgb, size, size);
        var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var rgba = new byte[size * size * 4];
        for (int i = 0, j = 0; i < resized.Pixels.Length; i += 3, j += 4)
        {
            rgba[j] = resized.Pixels[i]; rgba[j + 1] = resized.Pixels[i + 1]; rgba[j + 2] = resized.Pixels[i + 2]; rgba[j + 3] = 255;
        }
        using var bitmap = new SKBitmap();
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(rgba, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            bitmap.InstallPixels(info, handle.AddrOfPinnedObject(), info.RowBytes);
            using var img = SKImage.FromBitmap(bitmap);
            using var data = img.Encode(SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }
        finally { handle.Free(); }
    }
}
