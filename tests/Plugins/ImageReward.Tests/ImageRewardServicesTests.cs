using BiasBench.Abstractions;
using BiasBench.TestSupport;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Tests;

/// <summary>The real tokenizer and image pipeline the plugin wires in, against the reference inputs of the fixture.</summary>
public class ImageRewardServicesTests
{
    /// <summary>
    /// The fixture's images are lossless PNGs and our resize keeps Pillow's integer arithmetic, so pixels and rewards
    /// are held to the 1e-4 parity bound (the fixture README's looser allowance is for JPEG decoders).
    /// </summary>
    private const double PixelTolerance = 1e-4;
    private const double RewardTolerance = 1e-4;

    private readonly ITestOutputHelper _output;

    public ImageRewardServicesTests(ITestOutputHelper output) => _output = output;

    private static string VocabFile => Fixtures.Data("tokenizers/bert-base-uncased-vocab.txt");

    [Fact]
    public void Prompts_tokenize_to_the_reference_ids()
    {
        using var fixture = ImageRewardFixture.Load();
        var tokenizer = BlipPromptTokenizer.FromVocabFile(VocabFile);
        for (var i = 0; i < fixture.Prompts.Length; i++)
        {
            var encoded = tokenizer.Encode(fixture.Prompts[i], ImageRewardModel.TextLength);
            Assert.Equal(fixture.InputIds[i].data<long>().ToArray(), encoded.InputIds);
            Assert.Equal(fixture.AttentionMask[i].data<long>().ToArray(), encoded.AttentionMask);
            Assert.False(encoded.Truncated);
        }
    }

    [Fact]
    public void Long_prompts_keep_cls_and_sep_and_are_flagged_as_truncated()
    {
        var tokenizer = BlipPromptTokenizer.FromVocabFile(VocabFile);
        var prompt = string.Join(' ', Enumerable.Repeat("a smiling person with glasses", 12));
        var encoded = tokenizer.Encode(prompt, ImageRewardModel.TextLength);
        Assert.True(encoded.Truncated);
        Assert.Equal(ImageRewardModel.TextLength, encoded.InputIds.Length);
        Assert.Equal(101L, encoded.InputIds[0]);
        Assert.Equal(102L, encoded.InputIds[^1]);
        Assert.All(encoded.AttentionMask, m => Assert.Equal(1L, m));

        var shortOne = tokenizer.Encode("a face", ImageRewardModel.TextLength);
        Assert.False(shortOne.Truncated);
        Assert.Equal(ImageRewardModel.TextLength, shortOne.InputIds.Length);
        Assert.Equal(0L, shortOne.InputIds[^1]);
    }

    [Fact]
    public void Blip_special_tokens_follow_the_bert_vocabulary()
    {
        // BLIP adds [DEC] and [ENC] after bert-base-uncased's 30522 entries (hence the text config's vocab_size 30524).
        var tokenizer = BlipPromptTokenizer.FromVocabFile(VocabFile);
        var encoded = tokenizer.Encode("[DEC] [ENC]", ImageRewardModel.TextLength);
        Assert.Equal(new long[] { 101, 30522, 30523, 102 }, encoded.InputIds.Take(4));
    }

    [Fact]
    public async Task Image_files_preprocess_like_the_reference_pil_pipeline()
    {
        using var fixture = ImageRewardFixture.Load();
        var preprocessor = new PilImagePreprocessor();
        for (var i = 0; i < fixture.Images.Length; i++)
        {
            var file = Fixtures.File(fixture.Images[i]);
            var size = (int)fixture.PixelValues.shape[^1]; // the fixture's image size
            using var pixels = await preprocessor.LoadAsync(ImageRef.FromFile(fixture.Images[i], file), size, TestContext.Current.CancellationToken);
            var diff = ImageRewardFixture.MaxAbsDiff(pixels, fixture.PixelValues[i]);
            _output.WriteLine($"{fixture.Images[i]}: pixel max |diff| = {diff:E3}");
            Assert.True(diff <= PixelTolerance, $"{fixture.Images[i]}: max |diff| {diff:E3}");
        }
    }

    [Fact]
    public async Task Undecodable_bytes_throw_naming_the_image()
    {
        var preprocessor = new PilImagePreprocessor();
        var e = await Assert.ThrowsAnyAsync<Exception>(() =>
            preprocessor.LoadAsync(ImageRef.FromBytes("not-an-image", new byte[] { 1, 2, 3, 4, 5 }), 224, TestContext.Current.CancellationToken));
        Assert.Contains("not-an-image", e.Message);
    }

    [Fact]
    public async Task The_plugin_factory_scores_image_files_end_to_end_with_per_item_failures()
    {
        using var fixture = ImageRewardFixture.Load();
        var temp = Directory.CreateTempSubdirectory("imagereward-e2e-").FullName;
        try
        {
            var junk = Path.Combine(temp, "junk.png");
            File.WriteAllBytes(junk, "definitely not a PNG"u8.ToArray());
            var environment = new RunEnvironment("cpu", temp, fixture.Folder, temp, 0);
            var options = new ImageRewardOptions { WeightsPath = ".", VocabPath = VocabFile, BatchSize = 1 };
            using var model = ImageRewardPlugin.Create(options, environment);
            Assert.False(string.IsNullOrEmpty(model.Info.WeightsChecksum));

            var requests = fixture.Images.Select((name, i) => new RewardRequest(ImageRef.FromFile(name, Fixtures.File(name)), fixture.Prompts[i]))
                .Append(new RewardRequest(ImageRef.FromFile("junk", junk), fixture.Prompts[0]))
                .Append(new RewardRequest(ImageRef.FromFile("missing", Path.Combine(temp, "missing.png")), fixture.Prompts[0]))
                .ToList();
            var results = await model.ScoreAsync(requests, TestContext.Current.CancellationToken);

            Assert.Equal(requests.Count, results.Count);
            // Decode + PIL-exact resize + tokenize + network: the whole scoring path at the parity bound.
            using var expected = fixture.ExpectedRewards.clone();
            for (var i = 0; i < fixture.Images.Length; i++)
            {
                Assert.True(results[i].IsSuccess, results[i].Error);
                var diff = Math.Abs(results[i].Value - expected[i].item<float>());
                _output.WriteLine($"{fixture.Images[i]}: reward {results[i].Value:F6}, reference {expected[i].item<float>():F6}, |diff| {diff:E3}");
                Assert.True(diff <= RewardTolerance, $"case {i}: |diff| {diff:E3}");
            }
            Assert.False(results[^2].IsSuccess);
            Assert.Contains("junk", results[^2].Error);
            Assert.False(results[^1].IsSuccess);
            Assert.Contains("missing", results[^1].Error);
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }
}
