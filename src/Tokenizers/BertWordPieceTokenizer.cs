using System.Globalization;
using System.Text;

namespace BiasBench.Tokenizers;

/// <summary>BERT ids for one prompt: [CLS] tokens [SEP] then padding (transformers "max_length" padding + truncation).</summary>
/// <param name="InputIds">maxLength ids.</param>
/// <param name="AttentionMask">1 for [CLS]..[SEP], 0 for padding.</param>
/// <param name="Truncated">True when word pieces were dropped to fit maxLength.</param>
public sealed record BertTokens(long[] InputIds, long[] AttentionMask, bool Truncated);

/// <summary>
/// transformers' BertTokenizer (bert-base-uncased as used by ImageReward's BLIP). Own implementation, not
/// Microsoft.ML.Tokenizers' BertTokenizer: checked against tests/Tokenizers.Tests/reference/bert_reference_cases.json it
/// differs on 15 of 32 prompts (drops symbols such as $ &lt; = ^ ~, keeps accents because string.Normalize is a no-op
/// under InvariantGlobalization, splits added tokens such as [DEC] into pieces). This one:
/// special/added tokens are split out of the raw text first; the rest goes through the basic tokenizer (remove
/// control characters, whitespace -> space, spaces around CJK ideographs, NFC, whitespace split, lower case +
/// strip accents (NFD, drop Mn), split on punctuation) and then greedy longest-match-first WordPiece with "##"
/// continuations (words over 100 code points, or with no match, become [UNK]).
/// Encoding is thread-safe; <see cref="AddSpecialToken"/> may run concurrently (copy-on-write state).
/// </summary>
public sealed class BertWordPieceTokenizer
{
    public const int MaxInputCharsPerWord = 100;

    private static readonly string[] BaseSpecialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    private readonly Dictionary<string, int> _vocab;
    private readonly int _baseSize;
    private readonly object _addLock = new();
    private volatile AddedState _added;

    private sealed record AddedState(Dictionary<string, int> Ids, List<string> Tokens, string[] SpecialsLongestFirst);

    private BertWordPieceTokenizer(Dictionary<string, int> vocab, int baseSize, bool lowerCase, string source)
    {
        _vocab = vocab;
        _baseSize = baseSize;
        LowerCase = lowerCase;
        foreach (var t in new[] { "[UNK]", "[CLS]", "[SEP]", "[PAD]" })
            if (!vocab.ContainsKey(t)) throw new InvalidDataException($"BERT vocabulary '{source}' has no {t} token.");
        UnkId = vocab["[UNK]"];
        ClsId = vocab["[CLS]"];
        SepId = vocab["[SEP]"];
        PadId = vocab["[PAD]"];
        _added = new AddedState(new Dictionary<string, int>(StringComparer.Ordinal), [],
            BaseSpecialTokens.Where(vocab.ContainsKey).OrderByDescending(t => t.Length).ToArray());
    }

    public bool LowerCase { get; }
    public int UnkId { get; }
    public int ClsId { get; }
    public int SepId { get; }
    public int PadId { get; }

    /// <summary>Base vocabulary plus added tokens (30,524 after ImageReward adds [DEC] and [ENC]).</summary>
    public int VocabularySize => _baseSize + _added.Tokens.Count;

    /// <summary>
    /// Loads a vocab.txt (one token per line, id = 0-based line number; a repeated token keeps its last line, as in
    /// transformers' load_vocab).
    /// </summary>
    public static BertWordPieceTokenizer FromVocabFile(string vocabTxtPath, bool lowerCase = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(vocabTxtPath);
        if (!File.Exists(vocabTxtPath))
            throw new FileNotFoundException($"BERT vocabulary file not found: '{vocabTxtPath}'.", vocabTxtPath);
        var text = File.ReadAllText(vocabTxtPath, new UTF8Encoding(false, true));
        // Python text-mode readlines(): universal newlines (\r\n, \r and \n all end a line).
        var lines = text.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n');
        var count = lines.Length;
        if (count > 0 && lines[^1].Length == 0) count--; // readlines(): no entry after the final newline
        if (count == 0) throw new InvalidDataException($"BERT vocabulary file '{vocabTxtPath}' is empty.");
        var vocab = new Dictionary<string, int>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++) vocab[lines[i]] = i;
        return new BertWordPieceTokenizer(vocab, count, lowerCase, vocabTxtPath);
    }

    /// <summary>
    /// Registers a special token (transformers add_special_tokens): an existing token keeps its id, a new one gets
    /// the next id (ImageReward: [DEC] -> 30522, [ENC] -> 30523). Special tokens are matched verbatim in the text
    /// and never split. Returns the id.
    /// </summary>
    public int AddSpecialToken(string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        lock (_addLock)
        {
            var state = _added;
            var specials = state.SpecialsLongestFirst.Contains(token)
                ? state.SpecialsLongestFirst
                : state.SpecialsLongestFirst.Append(token).OrderByDescending(t => t.Length).ToArray();
            if (_vocab.TryGetValue(token, out var existing) || state.Ids.TryGetValue(token, out existing))
            {
                _added = state with { SpecialsLongestFirst = specials };
                return existing;
            }
            var id = _baseSize + state.Tokens.Count;
            var ids = new Dictionary<string, int>(state.Ids, StringComparer.Ordinal) { [token] = id };
            _added = new AddedState(ids, [.. state.Tokens, token], specials);
            return id;
        }
    }

    /// <summary>Id of a token; throws <see cref="KeyNotFoundException"/> naming it when it is not in the vocabulary.</summary>
    public int TokenToId(string token) => TryTokenToId(token, out var id)
        ? id
        : throw new KeyNotFoundException($"Token '{token}' is not in the BERT vocabulary.");

    public bool TryTokenToId(string token, out int id) =>
        _vocab.TryGetValue(token, out id) || _added.Ids.TryGetValue(token, out id);

    /// <summary>Word pieces of the text (no [CLS]/[SEP]), like BertTokenizer.tokenize.</summary>
    public IReadOnlyList<string> Tokenize(string text) => Tokenize(text, _added);

    private List<string> Tokenize(string text, AddedState state)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<string>();
        foreach (var (chunk, isSpecial) in SplitOnSpecials(text, state.SpecialsLongestFirst))
        {
            if (isSpecial) output.Add(chunk);
            else
                foreach (var word in BasicTokenize(chunk))
                    WordPiece(word, output);
        }
        return output;
    }

    /// <summary>Ids of the text without [CLS]/[SEP].</summary>
    public IReadOnlyList<int> EncodeText(string text)
    {
        var state = _added; // one snapshot, so a concurrent AddSpecialToken cannot split tokenising from id lookup
        return Tokenize(text, state).Select(t => _vocab.TryGetValue(t, out var id) ? id : state.Ids.TryGetValue(t, out id) ? id : UnkId).ToList();
    }

    /// <summary>[CLS] + ids (cut to maxLength - 2) + [SEP], padded with [PAD] (0) to maxLength.</summary>
    public BertTokens Encode(string text, int maxLength)
    {
        if (maxLength < 2)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "maxLength must be at least 2 ([CLS] + [SEP]).");
        var body = EncodeText(text);
        var truncated = body.Count > maxLength - 2;
        var n = Math.Min(body.Count, maxLength - 2);
        var ids = new long[maxLength];
        var mask = new long[maxLength];
        ids[0] = ClsId;
        for (var i = 0; i < n; i++) ids[i + 1] = body[i];
        ids[n + 1] = SepId;
        for (var i = n + 2; i < maxLength; i++) ids[i] = PadId;
        for (var i = 0; i < n + 2; i++) mask[i] = 1;
        return new BertTokens(ids, mask, truncated);
    }

    // Splits out special tokens: leftmost occurrence, longest token first (transformers' added-tokens trie).
    private static IEnumerable<(string Chunk, bool IsSpecial)> SplitOnSpecials(string text, string[] specials)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '[' && !specials.Any(s => s[0] == text[i])) continue;
            foreach (var s in specials)
            {
                if (string.CompareOrdinal(text, i, s, 0, s.Length) != 0 || i + s.Length > text.Length) continue;
                if (i > start) yield return (text[start..i], false);
                yield return (s, true);
                start = i + s.Length;
                i = start - 1;
                break;
            }
        }
        if (start < text.Length) yield return (text[start..], false);
    }

    /// <summary>transformers' BasicTokenizer.tokenize (clean, CJK spacing, NFC, lower + strip accents, punctuation).</summary>
    public List<string> BasicTokenize(string text)
    {
        var sb = new StringBuilder(text.Length + 16);
        foreach (var r in text.EnumerateRunes())
        {
            var cp = r.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(r)) continue;
            if (IsWhitespace(r)) sb.Append(' ');
            else if (IsCjk(cp)) sb.Append(' ').Append(r.ToString()).Append(' ');
            else sb.Append(r.ToString());
        }
        var normalized = UnicodeNormalizer.Nfc(sb.ToString());
        var pieces = new List<string>();
        foreach (var original in PyText.Split(normalized))
        {
            var token = original;
            if (LowerCase) token = StripAccents(PyText.Lower(token));
            SplitOnPunctuation(token, pieces);
        }
        // whitespace_tokenize(" ".join(split_tokens)): drops pieces that became empty or whitespace.
        return PyText.Split(string.Join(' ', pieces));
    }

    private static string StripAccents(string text)
    {
        var nfd = UnicodeNormalizer.Nfd(text);
        var sb = new StringBuilder(nfd.Length);
        foreach (var r in nfd.EnumerateRunes())
            if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) sb.Append(r.ToString());
        return sb.ToString();
    }

    private static void SplitOnPunctuation(string token, List<string> output)
    {
        var current = new StringBuilder();
        foreach (var r in token.EnumerateRunes())
        {
            if (IsPunctuation(r))
            {
                if (current.Length > 0) output.Add(current.ToString());
                current.Clear();
                output.Add(r.ToString());
            }
            else current.Append(r.ToString());
        }
        if (current.Length > 0) output.Add(current.ToString());
    }

    private void WordPiece(string word, List<string> output)
    {
        var runes = word.EnumerateRunes().Select(r => r.ToString()).ToArray();
        if (runes.Length > MaxInputCharsPerWord)
        {
            output.Add("[UNK]");
            return;
        }
        var pieces = new List<string>();
        var start = 0;
        while (start < runes.Length)
        {
            string? found = null;
            var end = runes.Length;
            while (start < end)
            {
                var sub = string.Concat(runes[start..end]);
                if (start > 0) sub = "##" + sub;
                if (_vocab.ContainsKey(sub)) { found = sub; break; }
                end--;
            }
            if (found is null)
            {
                output.Add("[UNK]");
                return;
            }
            pieces.Add(found);
            start = end;
        }
        output.AddRange(pieces);
    }

    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;
    }

    private static bool IsPunctuation(Rune r)
    {
        var cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
