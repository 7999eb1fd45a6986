using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace BiasBench.Tokenizers;

/// <summary>CLIP token ids for one prompt, laid out like open_clip's tokenize() row.</summary>
/// <param name="InputIds">contextLength ids: start, BPE ids, end, then padding.</param>
/// <param name="AttentionMask">1 for the real tokens (start..end inclusive), 0 for padding.</param>
/// <param name="Truncated">True when the prompt did not fit and was cut (the end token is then last).</param>
/// <param name="TokenCount">Number of real tokens kept (start and end included) = index of the end token + 1.</param>
public sealed record ClipTokens(long[] InputIds, long[] AttentionMask, bool Truncated, int TokenCount);

/// <summary>How prompt text is cleaned before pre-tokenisation.</summary>
public enum ClipTextCleaning
{
    /// <summary>open_clip: NFC (standing in for ftfy), html.unescape twice, whitespace collapse, strip, lower().</summary>
    OpenClip,

    /// <summary>transformers' CLIPTokenizer (tokenizers-backed): NFC, whitespace collapse, lower case; no HTML
    /// unescaping, so an entity such as "&amp;amp;" is tokenised as written. Otherwise gives the same ids as
    /// <see cref="OpenClip"/>.</summary>
    HuggingFace,
}

/// <summary>
/// Byte-level BPE tokenizer of OpenAI CLIP: a re-implementation of open_clip's SimpleTokenizer (same vocabulary
/// layout, cleaning, pre-tokenizer pattern, BPE with the "&lt;/w&gt;" end-of-word suffix, truncation) that also
/// loads Hugging Face CLIPTokenizer files. Own implementation, not Microsoft.ML.Tokenizers: that library has no CLIP
/// tokenizer (no html.unescape cleaning, no CLIP pre-tokenizer pattern, and its Unicode normalisation is a no-op under
/// this repository's InvariantGlobalization), so it does not reproduce open_clip's ids.
/// Cleaning: ftfy is not reproduced; in its place the text is NFC-normalised (what ftfy.fix_text and HF's fast CLIP
/// tokenizer do by default), then html.unescape twice, whitespace collapse, strip and Python lower().
/// Thread-safe: all state is read-only except the concurrent BPE cache.
/// </summary>
public sealed class ClipBpeTokenizer
{
    /// <summary>Number of merges open_clip and HF use: lines 1..48894 of the merges file (49152 - 256 - 2).</summary>
    public const int MergeCount = 49152 - 256 - 2;

    private const int MaxCacheEntries = 200_000;

    private readonly Dictionary<string, int> _encoder;
    private readonly string[] _decoder;
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly string[] _specialTokens;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private static readonly char[] ByteEncoder = BuildByteEncoder();
    private static readonly Dictionary<char, byte> ByteDecoder =
        Enumerable.Range(0, 256).ToDictionary(b => ByteEncoder[b], b => (byte)b);

    private ClipBpeTokenizer(Dictionary<string, int> encoder, Dictionary<(string, string), int> ranks,
        string startToken, string endToken, ClipTextCleaning cleaning)
    {
        Cleaning = cleaning;
        _encoder = encoder;
        _ranks = ranks;
        _specialTokens = [startToken, endToken];
        var size = encoder.Count == 0 ? 0 : encoder.Values.Max() + 1;
        _decoder = new string[size];
        foreach (var (token, id) in encoder) _decoder[id] = token;
        StartOfText = encoder[startToken];
        EndOfText = encoder[endToken];
        StartToken = startToken;
        EndToken = endToken;
    }

    /// <summary>Id of the start token (49406 for CLIP).</summary>
    public int StartOfText { get; }

    /// <summary>Id of the end token (49407 for CLIP).</summary>
    public int EndOfText { get; }

    /// <summary>Text of the start token ("&lt;start_of_text&gt;" for open_clip, "&lt;|startoftext|&gt;" for HF).</summary>
    public string StartToken { get; }

    /// <summary>Text of the end token.</summary>
    public string EndToken { get; }

    /// <summary>Text cleaning applied by <see cref="EncodeText"/>.</summary>
    public ClipTextCleaning Cleaning { get; }

    /// <summary>Number of ids (49408 for CLIP).</summary>
    public int VocabularySize => _decoder.Length;

    /// <summary>
    /// Loads open_clip's bpe_simple_vocab_16e6.txt.gz: merges are lines 1..48894 (line 0 is the version header);
    /// the vocabulary is the 256 byte characters, the same with "&lt;/w&gt;", the merges joined, then
    /// "&lt;start_of_text&gt;" and "&lt;end_of_text&gt;".
    /// </summary>
    public static ClipBpeTokenizer FromOpenClipVocabulary(string bpeGzPath, ClipTextCleaning cleaning = ClipTextCleaning.OpenClip)
    {
        RequireFile(bpeGzPath, "CLIP BPE merges file");
        string content;
        try
        {
            using var file = File.OpenRead(bpeGzPath);
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            using var reader = new StreamReader(gz, new UTF8Encoding(false, true));
            content = reader.ReadToEnd();
        }
        catch (Exception e) when (e is InvalidDataException or DecoderFallbackException)
        {
            throw new InvalidDataException($"'{bpeGzPath}' is not a gzip-compressed UTF-8 CLIP merges file: {e.Message}", e);
        }
        var lines = content.Split('\n');
        if (lines.Length < MergeCount + 1)
            throw new InvalidDataException(
                $"'{bpeGzPath}' has {lines.Length} lines; a CLIP merges file needs at least {MergeCount + 1} (header + {MergeCount} merges).");
        var merges = ParseMerges(lines, 1, MergeCount, bpeGzPath);

        var vocab = new List<string>(2 * 256 + merges.Count + 2);
        foreach (var b in ByteOrder()) vocab.Add(ByteEncoder[b].ToString());
        foreach (var b in ByteOrder()) vocab.Add(ByteEncoder[b] + "</w>");
        foreach (var (a, b) in merges) vocab.Add(a + b);
        const string start = "<start_of_text>", end = "<end_of_text>";
        vocab.Add(start);
        vocab.Add(end);
        // dict(zip(vocab, range(len(vocab)))): a repeated entry keeps its last id, as in Python.
        var encoder = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        for (var i = 0; i < vocab.Count; i++) encoder[vocab[i]] = i;
        return new ClipBpeTokenizer(encoder, RankMerges(merges), start, end, cleaning);
    }

    /// <summary>
    /// Loads Hugging Face CLIPTokenizer files (vocab.json + merges.txt). Like transformers, merges are the lines after
    /// the "#version" header, at most 48894 of them. The special tokens are "&lt;|startoftext|&gt;"/"&lt;|endoftext|&gt;"
    /// (HF naming) or "&lt;start_of_text&gt;"/"&lt;end_of_text&gt;" (open_clip naming), whichever the vocabulary has.
    /// By default text is cleaned exactly as by <see cref="FromOpenClipVocabulary"/>, so both give the same ids;
    /// pass <see cref="ClipTextCleaning.HuggingFace"/> to copy transformers (no HTML unescaping).
    /// </summary>
    public static ClipBpeTokenizer FromHuggingFace(string vocabJsonPath, string mergesTxtPath,
        ClipTextCleaning cleaning = ClipTextCleaning.OpenClip)
    {
        RequireFile(vocabJsonPath, "CLIP vocab.json");
        RequireFile(mergesTxtPath, "CLIP merges.txt");
        Dictionary<string, int> encoder;
        try
        {
            encoder = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabJsonPath))
                      ?? throw new InvalidDataException("null JSON");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{vocabJsonPath}' is not a JSON object of token -> id: {e.Message}", e);
        }
        encoder = new Dictionary<string, int>(encoder, StringComparer.Ordinal);

        // transformers: merges_handle.read().strip().split("\n")[1 : 49152 - 256 - 2 + 1]
        var lines = File.ReadAllText(mergesTxtPath).Replace("\r\n", "\n").Replace('\r', '\n').Trim().Split('\n');
        var first = lines.Length > 0 && lines[0].StartsWith("#version", StringComparison.Ordinal) ? 1 : 0;
        var count = Math.Min(MergeCount, lines.Length - first);
        var merges = ParseMerges(lines, first, count, mergesTxtPath);
        foreach (var (a, b) in merges)
            if (!encoder.ContainsKey(a + b))
                throw new InvalidDataException($"'{mergesTxtPath}': merge result '{a + b}' is not in '{vocabJsonPath}'.");

        string? start = null, end = null;
        foreach (var (s, e) in new[] { ("<|startoftext|>", "<|endoftext|>"), ("<start_of_text>", "<end_of_text>") })
            if (encoder.ContainsKey(s) && encoder.ContainsKey(e)) { start = s; end = e; break; }
        if (start is null || end is null)
            throw new InvalidDataException(
                $"'{vocabJsonPath}' has neither <|startoftext|>/<|endoftext|> nor <start_of_text>/<end_of_text>.");
        foreach (var (token, id) in encoder)
            if (id < 0) throw new InvalidDataException($"'{vocabJsonPath}': token '{token}' has negative id {id}.");
        return new ClipBpeTokenizer(encoder, RankMerges(merges), start, end, cleaning);
    }

    /// <summary>BPE ids of the cleaned text, without start/end tokens (open_clip's SimpleTokenizer.encode).</summary>
    public IReadOnlyList<int> EncodeText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cleaned = Clean(text, Cleaning);
        var ids = new List<int>(cleaned.Length / 3 + 4);
        foreach (var piece in PreTokenize(cleaned))
        {
            if (piece == _specialTokens[0]) { ids.Add(StartOfText); continue; }
            if (piece == _specialTokens[1]) { ids.Add(EndOfText); continue; }
            var bytes = Encoding.UTF8.GetBytes(piece);
            var chars = new char[bytes.Length];
            for (var i = 0; i < bytes.Length; i++) chars[i] = ByteEncoder[bytes[i]];
            ids.AddRange(Bpe(new string(chars)));
        }
        return ids;
    }

    /// <summary>
    /// One row of open_clip's tokenize(): [start] + ids + [end], cut to contextLength with the end token forced
    /// into the last position, padded with padId (0 for open_clip/HPSv2; HF PickScore pads with 49407).
    /// </summary>
    public ClipTokens Encode(string text, int contextLength = 77, long padId = 0)
    {
        if (contextLength < 2)
            throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength, "context length must be at least 2 (start + end token).");
        var body = EncodeText(text);
        var total = body.Count + 2;
        var truncated = total > contextLength;
        var kept = truncated ? contextLength : total;
        var ids = new long[contextLength];
        var mask = new long[contextLength];
        ids[0] = StartOfText;
        for (var i = 1; i < kept - 1; i++) ids[i] = body[i - 1];
        ids[kept - 1] = EndOfText;
        for (var i = kept; i < contextLength; i++) ids[i] = padId;
        for (var i = 0; i < kept; i++) mask[i] = 1;
        return new ClipTokens(ids, mask, truncated, kept);
    }

    /// <summary>Text of ids (open_clip's decode: byte-decoded, "&lt;/w&gt;" becomes a space).</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)_decoder.Length || _decoder[id] is null)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"id is outside the CLIP vocabulary (size {_decoder.Length}).");
            sb.Append(_decoder[id]);
        }
        var text = sb.ToString();
        var bytes = new List<byte>(text.Length);
        foreach (var c in text)
        {
            // Special tokens contain only printable ASCII, which maps to itself, so decoding byte-wise is exact.
            bytes.Add(ByteDecoder.TryGetValue(c, out var b) ? b : (byte)'?');
        }
        return Encoding.UTF8.GetString(bytes.ToArray()).Replace("</w>", " ");
    }

    /// <summary>The text cleaning of <paramref name="cleaning"/> (see <see cref="ClipTextCleaning"/>).</summary>
    public static string Clean(string text, ClipTextCleaning cleaning = ClipTextCleaning.OpenClip)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = UnicodeNormalizer.Nfc(text);
        if (cleaning == ClipTextCleaning.HuggingFace) return PyText.Lower(PyText.CollapseWhitespace(t));
        t = PyText.HtmlUnescape(PyText.HtmlUnescape(t));
        t = PyText.Strip(t);
        t = PyText.Strip(PyText.CollapseWhitespace(t));
        return PyText.Lower(t);
    }

    /// <summary>
    /// findall of &lt;start&gt;|&lt;end&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ (IGNORECASE),
    /// scanned on code points so that supplementary-plane letters count as letters as in Python.
    /// </summary>
    public IEnumerable<string> PreTokenize(string cleaned)
    {
        var i = 0;
        while (i < cleaned.Length)
        {
            var matched = MatchLiteral(cleaned, i, _specialTokens[0]) ?? MatchLiteral(cleaned, i, _specialTokens[1]);
            if (matched is null && cleaned[i] == '\'')
                foreach (var c in Contractions)
                    if ((matched = MatchLiteral(cleaned, i, c)) is not null) break;
            if (matched is int len)
            {
                yield return cleaned.Substring(i, len);
                i += len;
                continue;
            }
            var r = Rune.GetRuneAt(cleaned, i);
            var kind = Classify(r);
            if (kind == CharKind.Letter || kind == CharKind.Other)
            {
                var j = i + r.Utf16SequenceLength;
                while (j < cleaned.Length)
                {
                    var next = Rune.GetRuneAt(cleaned, j);
                    if (Classify(next) != kind) break;
                    j += next.Utf16SequenceLength;
                }
                yield return cleaned.Substring(i, j - i);
                i = j;
            }
            else if (kind == CharKind.Number)
            {
                yield return r.ToString();
                i += r.Utf16SequenceLength;
            }
            else i += r.Utf16SequenceLength; // whitespace is not matched by any alternative
        }
    }

    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    private enum CharKind { Space, Letter, Number, Other }

    private static CharKind Classify(Rune r)
    {
        if (PyText.IsRegexSpace(r.Value)) return CharKind.Space;
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    // Case-insensitive literal match (the pattern is compiled with IGNORECASE; the text is already lower-cased,
    // but e.g. U+017F LONG S still case-folds to 's').
    private static int? MatchLiteral(string text, int at, string literal)
    {
        if (at + literal.Length > text.Length) return null;
        for (var k = 0; k < literal.Length; k++)
        {
            var c = text[at + k];
            var l = literal[k];
            if (c == l) continue;
            if (char.ToLowerInvariant(c) == char.ToLowerInvariant(l)) continue;
            if (l is 's' or 'S' && c == '\u017F') continue;
            return null;
        }
        return literal.Length;
    }

    private int[] Bpe(string token)
    {
        if (_cache.TryGetValue(token, out var cached)) return cached;
        var ids = BpeUncached(token);
        if (_cache.Count >= MaxCacheEntries) _cache.Clear();
        _cache.TryAdd(token, ids);
        return ids;
    }

    private int[] BpeUncached(string token)
    {
        // word = tuple(token[:-1]) + (token[-1] + '</w>',); every byte character is a single BMP char.
        var word = new List<string>(token.Length);
        for (var i = 0; i < token.Length - 1; i++) word.Add(token[i].ToString());
        word.Add(token[^1] + "</w>");
        while (word.Count > 1)
        {
            var bestRank = int.MaxValue;
            var bestIndex = -1;
            for (var i = 0; i < word.Count - 1; i++)
                if (_ranks.TryGetValue((word[i], word[i + 1]), out var rank) && rank < bestRank)
                {
                    bestRank = rank;
                    bestIndex = i;
                }
            if (bestIndex < 0) break;
            var first = word[bestIndex];
            var second = word[bestIndex + 1];
            // Merge every non-overlapping occurrence of the best pair, scanning left to right.
            var merged = new List<string>(word.Count);
            for (var i = 0; i < word.Count;)
            {
                if (i < word.Count - 1 && word[i] == first && word[i + 1] == second)
                {
                    merged.Add(first + second);
                    i += 2;
                }
                else merged.Add(word[i++]);
            }
            word = merged;
        }
        var ids = new int[word.Count];
        for (var i = 0; i < word.Count; i++)
        {
            if (!_encoder.TryGetValue(word[i], out ids[i]))
                throw new InvalidOperationException($"BPE symbol '{word[i]}' of token '{token}' is not in the CLIP vocabulary.");
        }
        return ids;
    }

    private static List<(string, string)> ParseMerges(string[] lines, int first, int count, string path)
    {
        var merges = new List<(string, string)>(count);
        for (var i = first; i < first + count; i++)
        {
            // Python's str.split(): runs of whitespace; a merge needs exactly two symbols.
            var parts = PyText.Split(lines[i]);
            if (parts.Count != 2)
                throw new InvalidDataException(
                    $"'{path}' line {i + 1}: expected a merge of two symbols separated by a space, got '{lines[i].TrimEnd('\r')}'.");
            merges.Add((parts[0], parts[1]));
        }
        return merges;
    }

    private static Dictionary<(string, string), int> RankMerges(List<(string, string)> merges)
    {
        var ranks = new Dictionary<(string, string), int>(merges.Count);
        for (var i = 0; i < merges.Count; i++) ranks[merges[i]] = i;
        return ranks;
    }

    private static void RequireFile(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} not found: '{path}'.", path);
    }

    /// <summary>Order of bytes in bytes_to_unicode(): printable ranges first, then the rest ascending.</summary>
    private static IEnumerable<int> ByteOrder()
    {
        var printable = PrintableBytes().ToList();
        var set = printable.ToHashSet();
        return printable.Concat(Enumerable.Range(0, 256).Where(b => !set.Contains(b)));
    }

    private static IEnumerable<int> PrintableBytes() =>
        Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range(0xA1, 0xAC - 0xA1 + 1)).Concat(Enumerable.Range(0xAE, 0xFF - 0xAE + 1));

    private static char[] BuildByteEncoder()
    {
        var map = new char[256];
        var printable = PrintableBytes().ToHashSet();
        var n = 0;
        for (var b = 0; b < 256; b++) map[b] = printable.Contains(b) ? (char)b : (char)(256 + n++);
        return map;
    }
}
