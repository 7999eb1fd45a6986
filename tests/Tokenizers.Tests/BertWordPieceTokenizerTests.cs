using BiasBench.TestSupport;

namespace BiasBench.Tokenizers.Tests;

public class BertWordPieceTokenizerTests
{
    private static readonly Lazy<BertWordPieceTokenizer> Shared = new(() => ImageRewardTokenizer());

    /// <summary>ImageReward's BLIP tokenizer: bert-base-uncased + [DEC] (bos) + [ENC].</summary>
    private static BertWordPieceTokenizer ImageRewardTokenizer()
    {
        var tok = BertWordPieceTokenizer.FromVocabFile(TestFiles.BertVocab);
        Assert.Equal(30522, tok.AddSpecialToken("[DEC]"));
        Assert.Equal(30523, tok.AddSpecialToken("[ENC]"));
        return tok;
    }

    private static BertWordPieceTokenizer Tok => Shared.Value;

    private static long[] Ids(BertWordPieceTokenizer tok, params string[] tokens) => tokens.Select(t => (long)tok.TokenToId(t)).ToArray();

    [Fact]
    public void Vocabulary_SpecialIdsAndSize()
    {
        var tok = BertWordPieceTokenizer.FromVocabFile(TestFiles.BertVocab);
        Assert.Equal(30522, tok.VocabularySize);
        Assert.Equal(0, tok.PadId);
        Assert.Equal(100, tok.UnkId);
        Assert.Equal(101, tok.ClsId);
        Assert.Equal(102, tok.SepId);
        Assert.Equal(103, tok.TokenToId("[MASK]"));
        Assert.Equal(30522, tok.AddSpecialToken("[DEC]"));
        Assert.Equal(30523, tok.AddSpecialToken("[ENC]"));
        Assert.Equal(30524, tok.VocabularySize);
        // Re-adding keeps ids; an existing vocabulary token keeps its id.
        Assert.Equal(30522, tok.AddSpecialToken("[DEC]"));
        Assert.Equal(102, tok.AddSpecialToken("[SEP]"));
        Assert.Equal(30524, tok.VocabularySize);
        Assert.Equal(30523, tok.TokenToId("[ENC]"));
        var e = Assert.Throws<KeyNotFoundException>(() => tok.TokenToId("[NOPE]"));
        Assert.Contains("[NOPE]", e.Message);
    }

    /// <summary>The ImageReward fixture's BERT ids (image_reward/cases.safetensors) for its prompts (cases.json).</summary>
    [Fact]
    public void ImageRewardFixture_IdsMatchExactly()
    {
        using var doc = Fixtures.Json("image_reward/cases.json");
        var prompts = doc.RootElement.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToArray();
        var tensors = Fixtures.File("image_reward/cases.safetensors");
        var (ids, shape) = TestFiles.ReadInt64Tensor(tensors, "input_ids");
        var (mask, maskShape) = TestFiles.ReadInt64Tensor(tensors, "attention_mask");
        Assert.Equal(shape, maskShape);
        Assert.Equal(prompts.Length, shape[0]);
        var length = shape[1];
        for (var i = 0; i < prompts.Length; i++)
        {
            var t = Tok.Encode(prompts[i], length);
            Assert.Equal(ids.Skip(i * length).Take(length), t.InputIds);
            Assert.Equal(mask.Skip(i * length).Take(length), t.AttentionMask);
            Assert.False(t.Truncated);
        }
    }

    /// <summary>Awkward prompts (accents, scripts, controls, specials, 100/101-char words, truncation at 35 and 12)
    /// against reference/make_bert_reference_cases.py, a transcription of transformers' BertTokenizer run on CPython.</summary>
    [Fact]
    public void PythonReferenceCases_MatchExactly()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestFiles.Reference("bert_reference_cases.json")));
        var failures = new List<string>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var prompt = c.GetProperty("prompt").GetString()!;
            var n = c.GetProperty("max_length").GetInt32();
            var expected = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var expectedMask = c.GetProperty("attention_mask").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var expectedTokens = c.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray();
            var t = Tok.Encode(prompt, n);
            var tokens = Tok.Tokenize(prompt);
            if (!expected.SequenceEqual(t.InputIds) || !expectedMask.SequenceEqual(t.AttentionMask)
                || c.GetProperty("truncated").GetBoolean() != t.Truncated || !expectedTokens.SequenceEqual(tokens))
                failures.Add($"{System.Text.Json.JsonSerializer.Serialize(prompt)} (max {n}): expected [{string.Join(" ", expectedTokens)}]\n   got [{string.Join(" ", tokens)}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void KnownTokenization_AttractiveWoman()
    {
        var t = Tok.Encode("a photo of an attractive woman", 35);
        Assert.Equal(new long[] { 101, 1037, 6302, 1997, 2019, 8702, 2450, 102 }, t.InputIds.Take(8));
        Assert.All(t.InputIds.Skip(8), id => Assert.Equal(0, id));
        Assert.Equal(Enumerable.Repeat(1L, 8).Concat(Enumerable.Repeat(0L, 27)), t.AttentionMask);
    }

    [Fact]
    public void UpperCaseAccentsAndPunctuation()
    {
        // Lower case + NFD accent stripping, punctuation split off: hello=7592 ,=1010 world=2088 !=999.
        Assert.Equal(new[] { "hello", ",", "world", "!" }, Tok.Tokenize("HÉLLO,   Wörld!"));
        Assert.Equal(new long[] { 101, 7592, 1010, 2088, 999, 102 }, Tok.Encode("HÉLLO,   Wörld!", 6).InputIds);
        // Decomposed input (e + combining acute) gives the same as precomposed.
        Assert.Equal(Tok.Tokenize("caf\u00e9"), Tok.Tokenize("cafe\u0301"));
        Assert.Equal(new[] { "cafe" }, Tok.Tokenize("Café"));
        Assert.Equal(new[] { "don", "'", "t", "-", "stop", "." }, Tok.Tokenize("Don't-stop."));
    }

    [Fact]
    public void WordPiece_GreedyLongestMatchWithContinuations()
    {
        // bert-base-uncased has una, ##ffa, ##ble, ##ff, ##able but none of unaffable, unaf(f), ##ffable, ##ffab:
        // longest-first gives una + ##ffa + ##ble (not the shorter ##ff + ##able).
        Assert.False(Tok.TryTokenToId("unaffable", out _));
        Assert.True(Tok.TryTokenToId("##ff", out _) && Tok.TryTokenToId("##able", out _));
        Assert.Equal(new[] { "una", "##ffa", "##ble" }, Tok.Tokenize("unaffable"));
        Assert.Equal(Ids(Tok, "una", "##ffa", "##ble"), Tok.EncodeText("unaffable").Select(i => (long)i));
    }

    [Fact]
    public void ChineseCharacters_AreSplitIndividually()
    {
        var tokens = Tok.Tokenize("ab中文cd");
        Assert.Equal(4, tokens.Count);
        Assert.Equal("中", tokens[1]);
        Assert.Equal("文", tokens[2]);
    }

    [Fact]
    public void ControlCharactersRemoved_LongWordIsUnk()
    {
        Assert.Equal(Tok.Tokenize("hello world"), Tok.Tokenize("hel\u0000lo\u200b \u00a0world\ufffd"));
        Assert.Equal(new[] { "[UNK]" }, Tok.Tokenize(new string('a', 101)));
        Assert.NotEqual(new[] { "[UNK]" }, Tok.Tokenize(new string('a', 100)));
        // A character with no word piece at all makes the whole word [UNK].
        Assert.Equal(new[] { "[UNK]" }, Tok.Tokenize("ab\U0001F9FFcd"));
    }

    [Fact]
    public void SpecialTokensInText_AreKeptWhole()
    {
        Assert.Equal(new[] { 30522, 1037, 102, 6302, 30523 }, Tok.EncodeText("[DEC] a[SEP]photo [ENC]"));
        // Lower-case spelling is not a special token.
        Assert.Equal(new[] { "[", "sep", "]" }, Tok.Tokenize("[sep]"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \t\n ")]
    public void EmptyOrWhitespacePrompt_GivesClsSep(string prompt)
    {
        var t = Tok.Encode(prompt, 35);
        Assert.Equal(new long[] { 101, 102 }, t.InputIds.Take(2));
        Assert.All(t.InputIds.Skip(2), id => Assert.Equal(0, id));
        Assert.Equal(new long[] { 1, 1 }, t.AttentionMask.Take(2));
        Assert.All(t.AttentionMask.Skip(2), m => Assert.Equal(0, m));
        Assert.False(t.Truncated);
    }

    [Fact]
    public void LongPrompt_TruncatedTo35_KeepsSepLast()
    {
        var prompt = string.Join(' ', Enumerable.Repeat("a photo of an attractive woman", 10));
        var body = Tok.EncodeText(prompt);
        Assert.Equal(60, body.Count);
        var t = Tok.Encode(prompt, 35);
        Assert.True(t.Truncated);
        Assert.Equal(35, t.InputIds.Length);
        Assert.Equal(101, t.InputIds[0]);
        Assert.Equal(body.Take(33).Select(i => (long)i), t.InputIds.Skip(1).Take(33));
        Assert.Equal(102, t.InputIds[34]);
        Assert.All(t.AttentionMask, m => Assert.Equal(1, m));

        // Exactly 33 pieces fit without truncation.
        var fit = string.Join(' ', Enumerable.Repeat("a", 33));
        var f = Tok.Encode(fit, 35);
        Assert.False(f.Truncated);
        Assert.Equal(102, f.InputIds[34]);
        Assert.True(Tok.Encode(fit + " a", 35).Truncated);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Encode("a", 1));
    }

    [Fact]
    public void NoLowerCase_KeepsCaseAndAccents()
    {
        var tok = BertWordPieceTokenizer.FromVocabFile(TestFiles.BertVocab, lowerCase: false);
        // The uncased vocabulary has no "Hello": without lower-casing it becomes [UNK].
        Assert.Equal(new[] { "[UNK]", "world" }, tok.Tokenize("Hello world"));
    }

    [Fact]
    public void ConcurrentEncode_MatchesSequential()
    {
        var prompts = Enumerable.Range(0, 300).Select(i => $"Prompt #{i}: a portrait of person {i}, naïve café style").ToArray();
        var results = new BertTokens[prompts.Length];
        Parallel.For(0, prompts.Length, i => results[i] = Tok.Encode(prompts[i], 35));
        for (var i = 0; i < prompts.Length; i++) Assert.Equal(Tok.Encode(prompts[i], 35).InputIds, results[i].InputIds);
    }

    [Fact]
    public void CrLfVocabulary_LoadsLikeLf()
    {
        var dir = TestFiles.TempDir();
        try
        {
            var path = Path.Combine(dir, "vocab.txt");
            File.WriteAllText(path, File.ReadAllText(TestFiles.BertVocab).Replace("\n", "\r\n"));
            var crlf = BertWordPieceTokenizer.FromVocabFile(path);
            Assert.Equal(30522, crlf.VocabularySize);
            Assert.Equal(BertWordPieceTokenizer.FromVocabFile(TestFiles.BertVocab).Encode("a Café, unaffable!", 16).InputIds,
                crlf.Encode("a Café, unaffable!", 16).InputIds);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MissingVocabFile_ErrorNamesPath()
    {
        var path = Path.Combine(Path.GetTempPath(), "missing-" + Guid.NewGuid().ToString("N"), "vocab.txt");
        var e = Assert.Throws<FileNotFoundException>(() => BertWordPieceTokenizer.FromVocabFile(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void VocabWithoutRequiredSpecials_IsRejected()
    {
        var dir = TestFiles.TempDir();
        try
        {
            var path = Path.Combine(dir, "vocab.txt");
            File.WriteAllText(path, "[PAD]\n[CLS]\n[SEP]\nhello\n");
            var e = Assert.Throws<InvalidDataException>(() => BertWordPieceTokenizer.FromVocabFile(path));
            Assert.Contains("[UNK]", e.Message);
            Assert.Contains(path, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
