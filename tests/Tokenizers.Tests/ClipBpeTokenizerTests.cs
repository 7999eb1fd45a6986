using System.Text;
using System.Text.Json;
using BiasBench.TestSupport;

namespace BiasBench.Tokenizers.Tests;

public class ClipBpeTokenizerTests
{
    private static ClipBpeTokenizer Tok => TestFiles.Clip;

    [Fact]
    public void Vocabulary_HasOpenClipLayout()
    {
        Assert.Equal(49406, Tok.StartOfText);
        Assert.Equal(49407, Tok.EndOfText);
        Assert.Equal(49408, Tok.VocabularySize);
    }

    /// <summary>Every case of the open_clip fixture (tokenizer/clip_cases.json) must match exactly, padding included.</summary>
    [Fact]
    public void OpenClipFixture_AllCasesMatchExactly()
    {
        using var doc = Fixtures.Json("tokenizer/clip_cases.json");
        var root = doc.RootElement;
        var contextLength = root.GetProperty("context_length").GetInt32();
        Assert.Equal(root.GetProperty("sot").GetInt32(), Tok.StartOfText);
        Assert.Equal(root.GetProperty("eot").GetInt32(), Tok.EndOfText);
        var failures = new List<string>();
        var count = 0;
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            count++;
            var prompt = c.GetProperty("prompt").GetString()!;
            var expected = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var got = Tok.Encode(prompt, contextLength);
            // The fixture lists the real tokens; open_clip pads the rest of the row with 0.
            var expectedRow = expected.Concat(Enumerable.Repeat(0L, contextLength - expected.Length)).ToArray();
            if (!expectedRow.SequenceEqual(got.InputIds))
                failures.Add($"'{prompt}': expected [{string.Join(",", expected)}] got [{string.Join(",", got.InputIds.Take(got.TokenCount))}]");
            Assert.Equal(expected.Length, got.TokenCount);
            Assert.Equal(expected.Length, (int)got.AttentionMask.Sum());
            Assert.Equal(Tok.EndOfText, got.InputIds[got.TokenCount - 1]);
        }
        Assert.True(count > 0, "fixture has no cases");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Awkward prompts (entities, contractions, non-Latin scripts, emoji, whitespace kinds, truncation)
    /// against ids from the Python transcription of open_clip in reference/make_clip_reference_cases.py.</summary>
    [Fact]
    public void PythonReferenceCases_MatchExactly()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestFiles.Reference("clip_reference_cases.json")));
        var failures = new List<string>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var prompt = c.GetProperty("prompt").GetString()!;
            var contextLength = c.TryGetProperty("context_length", out var cl) ? cl.GetInt32() : 77;
            var expected = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var expectedBpe = c.GetProperty("bpe").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var got = Tok.Encode(prompt, contextLength);
            if (!expected.SequenceEqual(got.InputIds))
                failures.Add($"{JsonSerializer.Serialize(prompt)} (ctx {contextLength}): expected [{string.Join(",", expected)}]\n   got [{string.Join(",", got.InputIds)}]");
            if (!expectedBpe.SequenceEqual(Tok.EncodeText(prompt)))
                failures.Add($"{JsonSerializer.Serialize(prompt)}: EncodeText differs");
            Assert.Equal(expectedBpe.Length + 2 > contextLength, got.Truncated);
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>The ids the model fixtures were run with: HF CLIPModel (PickScore, padded with 49407 + mask),
    /// open_clip (HPSv2, padded with 0), Stable Diffusion's text encoder (padded with 49407).</summary>
    [Theory]
    [InlineData("clip_hf", "input_ids", "attention_mask", 49407L, true)]
    [InlineData("open_clip", "text", null, 0L, false)]
    [InlineData("sd_tiny", "input_ids", null, 49407L, true)]
    public void ModelFixtures_PromptIdsMatch(string folder, string idsName, string? maskName, long padId, bool huggingFace)
    {
        using var doc = Fixtures.Json($"{folder}/cases.json");
        var prompts = doc.RootElement.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToArray();
        var tensors = Fixtures.File($"{folder}/cases.safetensors");
        var (ids, shape) = TestFiles.ReadInt64Tensor(tensors, idsName);
        Assert.Equal(prompts.Length, shape[0]);
        var length = shape[1];
        var tok = huggingFace ? HuggingFaceTokenizer.Value : Tok;
        for (var i = 0; i < prompts.Length; i++)
        {
            var t = tok.Encode(prompts[i], length, padId);
            Assert.Equal(ids.Skip(i * length).Take(length), t.InputIds);
            if (maskName is not null)
                Assert.Equal(TestFiles.ReadInt64Tensor(tensors, maskName).Data.Skip(i * length).Take(length), t.AttentionMask);
        }
    }

    /// <summary>FromHuggingFace on files generated from the open_clip vocabulary, with transformers' cleaning.</summary>
    private static readonly Lazy<ClipBpeTokenizer> HuggingFaceTokenizer = new(() =>
    {
        var dir = TestFiles.TempDir();
        try
        {
            var (vocab, merges) = WriteHuggingFaceFiles(dir, TestFiles.ReadGz(TestFiles.ClipGz));
            return ClipBpeTokenizer.FromHuggingFace(vocab, merges, ClipTextCleaning.HuggingFace);
        }
        finally { Directory.Delete(dir, true); }
    });

    [Fact]
    public void HuggingFaceCleaning_DoesNotUnescapeHtml()
    {
        var hf = HuggingFaceTokenizer.Value;
        Assert.Equal(ClipTextCleaning.HuggingFace, hf.Cleaning);
        Assert.Equal(Tok.EncodeText("fish & chips"), Tok.EncodeText("Fish &amp; Chips"));
        Assert.Equal(Tok.EncodeText("fish & amp ; chips"), hf.EncodeText("Fish &amp; Chips"));
        Assert.Equal(Tok.EncodeText("  A  Portrait\tphoto "), hf.EncodeText("  A  Portrait\tphoto "));
    }

    [Fact]
    public void KnownIds_SimplePrompt()
    {
        // "a" -> 320 ("a</w>"), "photo" -> 1125 (fixture), specials around it.
        var t = Tok.Encode("a photo");
        Assert.Equal(new long[] { 49406, 320, 1125, 49407 }, t.InputIds.Take(4));
        Assert.All(t.InputIds.Skip(4), id => Assert.Equal(0, id));
        Assert.False(t.Truncated);
        Assert.Equal(4, t.TokenCount);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t \n\r\u00a0\u3000")]
    public void EmptyOrWhitespacePrompt_GivesStartEndOnly(string prompt)
    {
        Assert.Empty(Tok.EncodeText(prompt));
        var t = Tok.Encode(prompt);
        Assert.Equal(77, t.InputIds.Length);
        Assert.Equal(new long[] { 49406, 49407 }, t.InputIds.Take(2));
        Assert.All(t.InputIds.Skip(2), id => Assert.Equal(0, id));
        Assert.Equal(new long[] { 1, 1 }, t.AttentionMask.Take(2));
        Assert.All(t.AttentionMask.Skip(2), m => Assert.Equal(0, m));
        Assert.Equal(2, t.TokenCount);
        Assert.False(t.Truncated);
    }

    [Fact]
    public void LongPrompt_IsTruncatedWithEndTokenLast()
    {
        var prompt = string.Join(' ', Enumerable.Range(0, 120).Select(i => $"word{i}"));
        var body = Tok.EncodeText(prompt);
        Assert.True(body.Count > 75);
        var t = Tok.Encode(prompt);
        Assert.True(t.Truncated);
        Assert.Equal(77, t.TokenCount);
        Assert.Equal(49406, t.InputIds[0]);
        Assert.Equal(body.Take(75).Select(i => (long)i), t.InputIds.Skip(1).Take(75));
        Assert.Equal(49407, t.InputIds[76]);
        Assert.All(t.AttentionMask, m => Assert.Equal(1, m));
    }

    [Fact]
    public void ExactFit_IsNotTruncated()
    {
        // 75 single-token words + start + end = 77 exactly.
        var prompt = string.Join(' ', Enumerable.Repeat("the", 75));
        Assert.Equal(75, Tok.EncodeText(prompt).Count);
        var t = Tok.Encode(prompt);
        Assert.False(t.Truncated);
        Assert.Equal(77, t.TokenCount);
        Assert.Equal(49407, t.InputIds[76]);
        Assert.True(Tok.Encode(prompt + " the").Truncated);
    }

    [Fact]
    public void PadId_IsUsedForPaddingOnly()
    {
        // HF PickScore pads with the end token id.
        var t = Tok.Encode("a photo", 10, padId: 49407);
        Assert.Equal(new long[] { 49406, 320, 1125, 49407, 49407, 49407, 49407, 49407, 49407, 49407 }, t.InputIds);
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 }, t.AttentionMask);
        Assert.Equal(4, t.TokenCount);
    }

    [Fact]
    public void ContextLengthBelowTwo_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Encode("a", 1));
    }

    [Fact]
    public void SpecialTokenText_MapsToSpecialIds()
    {
        Assert.Equal(new[] { 49406, 320, 49407 }, Tok.EncodeText("<start_of_text>a<end_of_text>"));
    }

    [Fact]
    public void Decode_RoundTripsCleanedText()
    {
        var ids = Tok.EncodeText("A Photo of an Attractive Face, café!");
        Assert.Equal("a photo of an attractive face , café ! ", Tok.Decode(ids));
    }

    [Fact]
    public void ConcurrentEncode_MatchesSequential()
    {
        var tok = ClipBpeTokenizer.FromOpenClipVocabulary(TestFiles.ClipGz); // fresh cache
        var prompts = Enumerable.Range(0, 400).Select(i => $"prompt {i} with words{i % 37} and émoji 😀 number {i * 7919}").ToArray();
        var parallel = new ClipTokens[prompts.Length];
        Parallel.For(0, prompts.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => parallel[i] = tok.Encode(prompts[i]));
        var sequential = ClipBpeTokenizer.FromOpenClipVocabulary(TestFiles.ClipGz);
        for (var i = 0; i < prompts.Length; i++)
            Assert.Equal(sequential.Encode(prompts[i]).InputIds, parallel[i].InputIds);
    }

    [Fact]
    public void FromHuggingFace_GeneratedFiles_GiveIdenticalIds()
    {
        var dir = TestFiles.TempDir();
        try
        {
            var (vocabPath, mergesPath) = WriteHuggingFaceFiles(dir, TestFiles.ReadGz(TestFiles.ClipGz));
            var hf = ClipBpeTokenizer.FromHuggingFace(vocabPath, mergesPath);
            Assert.Equal(49406, hf.StartOfText);
            Assert.Equal(49407, hf.EndOfText);
            Assert.Equal("<|startoftext|>", hf.StartToken);
            Assert.Equal(Tok.VocabularySize, hf.VocabularySize);

            var prompts = new List<string>();
            using (var doc = Fixtures.Json("tokenizer/clip_cases.json"))
                prompts.AddRange(doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("prompt").GetString()!));
            using (var doc = JsonDocument.Parse(File.ReadAllText(TestFiles.Reference("clip_reference_cases.json"))))
                prompts.AddRange(doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("prompt").GetString()!));
            // Prompts that spell a special token are skipped: the two conventions name them differently.
            foreach (var p in prompts.Where(p => !p.Contains("_of_text>", StringComparison.OrdinalIgnoreCase) && !p.Contains("<|")))
                Assert.Equal(Tok.Encode(p).InputIds, hf.Encode(p).InputIds);
            // HF spells the specials <|startoftext|> / <|endoftext|>.
            Assert.Equal(new[] { 49406, 320, 49407 }, hf.EncodeText("<|startoftext|>a<|endoftext|>"));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>HF CLIP vocab.json/merges.txt derived from the open_clip merges file, in open_clip's vocabulary order.</summary>
    private static (string Vocab, string Merges) WriteHuggingFaceFiles(string dir, string openClipMerges)
    {
        var lines = openClipMerges.Split('\n');
        var merges = lines.Skip(1).Take(48894).ToList();
        var byteChars = BytesToUnicode();
        var vocab = new List<string>();
        vocab.AddRange(byteChars);
        vocab.AddRange(byteChars.Select(c => c + "</w>"));
        vocab.AddRange(merges.Select(m => m.Replace(" ", "")));
        vocab.Add("<|startoftext|>");
        vocab.Add("<|endoftext|>");
        var map = new Dictionary<string, int>();
        for (var i = 0; i < vocab.Count; i++) map[vocab[i]] = i;
        var vocabPath = Path.Combine(dir, "vocab.json");
        var mergesPath = Path.Combine(dir, "merges.txt");
        File.WriteAllText(vocabPath, JsonSerializer.Serialize(map));
        File.WriteAllText(mergesPath, "#version: 0.2\n" + string.Join("\n", merges) + "\n");
        return (vocabPath, mergesPath);
    }

    private static List<string> BytesToUnicode()
    {
        var bs = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var cs = bs.ToList();
        var n = 0;
        for (var b = 0; b < 256; b++)
            if (!bs.Contains(b)) { bs.Add(b); cs.Add(256 + n++); }
        return cs.Select(c => ((char)c).ToString()).ToList();
    }

    [Fact]
    public void MissingVocabularyFile_ErrorNamesPath()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "bpe.txt.gz");
        var e = Assert.Throws<FileNotFoundException>(() => ClipBpeTokenizer.FromOpenClipVocabulary(path));
        Assert.Contains(path, e.Message);
        var e2 = Assert.Throws<FileNotFoundException>(() => ClipBpeTokenizer.FromHuggingFace(path + ".json", path + ".txt"));
        Assert.Contains(path + ".json", e2.Message);
    }

    [Fact]
    public void MalformedMergesLine_ErrorNamesLine()
    {
        var dir = TestFiles.TempDir();
        try
        {
            var lines = TestFiles.ReadGz(TestFiles.ClipGz).Split('\n');
            lines[5] = "broken_line_without_pair";
            var gz = Path.Combine(dir, "bad.txt.gz");
            TestFiles.WriteGz(gz, string.Join('\n', lines));
            var e = Assert.Throws<InvalidDataException>(() => ClipBpeTokenizer.FromOpenClipVocabulary(gz));
            Assert.Contains("line 6", e.Message);
            Assert.Contains("broken_line_without_pair", e.Message);
            Assert.Contains(gz, e.Message);

            var (vocab, merges) = WriteHuggingFaceFiles(dir, TestFiles.ReadGz(TestFiles.ClipGz));
            var mergeLines = File.ReadAllLines(merges);
            mergeLines[3] = "a b c";
            File.WriteAllLines(merges, mergeLines);
            var e2 = Assert.Throws<InvalidDataException>(() => ClipBpeTokenizer.FromHuggingFace(vocab, merges));
            Assert.Contains("line 4", e2.Message);
            Assert.Contains(merges, e2.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TruncatedMergesFile_IsRejected()
    {
        var dir = TestFiles.TempDir();
        try
        {
            var gz = Path.Combine(dir, "short.txt.gz");
            TestFiles.WriteGz(gz, "#version: 0.2\ni n\nt h\n");
            var e = Assert.Throws<InvalidDataException>(() => ClipBpeTokenizer.FromOpenClipVocabulary(gz));
            Assert.Contains(gz, e.Message);
            var notGz = Path.Combine(dir, "plain.txt.gz");
            File.WriteAllText(notGz, "not gzip");
            Assert.Contains(notGz, Assert.Throws<InvalidDataException>(() => ClipBpeTokenizer.FromOpenClipVocabulary(notGz)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
