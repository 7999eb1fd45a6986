namespace BiasBench.Hosted;

/// <summary>One candidate for an answer token with its log-probability, as the server returned it.</summary>
public sealed record TokenLogProb(string Token, double LogProb);

/// <summary>Answer probabilities from the top log-probabilities of the first answer token.</summary>
public static class LogProbabilities
{
    /// <summary>
    /// The token with the spelling marks servers and tokenizers add removed: surrounding whitespace, a byte-level BPE
    /// space ('Ġ') or a SentencePiece space ('▁'); compared without case, so "real", " Real" and "REAL" are one answer.
    /// </summary>
    public static string Normalise(string token) => token.Replace('Ġ', ' ').Replace('▁', ' ').Trim().ToLowerInvariant();

    /// <summary>Sum of exp(logprob) over every spelling of <paramref name="answer"/> in <paramref name="top"/>.</summary>
    public static double Mass(IEnumerable<TokenLogProb> top, string answer)
    {
        var target = Normalise(answer);
        return top.Where(t => Normalise(t.Token) == target && double.IsFinite(t.LogProb)).Sum(t => Math.Exp(t.LogProb));
    }

    /// <summary>
    /// Probabilities of the <paramref name="answers"/> renormalised over them (the softmax of their log-probabilities,
    /// spellings summed); null when none of them is among the top tokens.
    /// </summary>
    public static double[]? Renormalised(IReadOnlyList<TokenLogProb> top, IReadOnlyList<string> answers)
    {
        var mass = answers.Select(a => Mass(top, a)).ToArray();
        var total = mass.Sum();
        if (!(total > 0)) return null;
        return mass.Select(m => m / total).ToArray();
    }

    /// <summary>The answer the text starts with (first word, without case or punctuation), or null.</summary>
    public static string? ParseAnswer(string? text, IReadOnlyList<string> answers)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var word = new string(text.Trim().TakeWhile(c => char.IsLetterOrDigit(c)).ToArray()).ToLowerInvariant();
        return answers.FirstOrDefault(a => a.Equals(word, StringComparison.OrdinalIgnoreCase));
    }
}
