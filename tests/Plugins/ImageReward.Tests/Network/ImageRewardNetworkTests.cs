using BiasBench.Plugins.ImageReward.Network;
using static TorchSharp.torch;

namespace BiasBench.Plugins.ImageReward.Tests.Network;

public class ImageRewardNetworkTests
{
    private readonly ITestOutputHelper _output;

    public ImageRewardNetworkTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Image_embeds_match_the_reference_vit()
    {
        using var fixture = ImageRewardFixture.Load();
        using var network = fixture.LoadNetwork();
        using var noGrad = no_grad();
        using var embeds = network.ImageEmbeds(fixture.PixelValues);
        var diff = ImageRewardFixture.MaxAbsDiff(embeds, fixture.ExpectedImageEmbeds);
        _output.WriteLine($"image_embeds max |diff| = {diff:E3}");
        Assert.True(diff <= ImageRewardFixture.Tolerance, $"image_embeds max |diff| {diff:E3}");
    }

    [Fact]
    public void Rewards_match_the_reference_for_every_case()
    {
        using var fixture = ImageRewardFixture.Load();
        Assert.Equal(fixture.Images.Length, fixture.PixelValues.shape[0]);
        Assert.Equal(fixture.Prompts.Length, fixture.InputIds.shape[0]);
        using var network = fixture.LoadNetwork();
        using var noGrad = no_grad();
        using var rewards = network.Rewards(fixture.PixelValues, fixture.InputIds, fixture.AttentionMask);
        var diff = ImageRewardFixture.MaxAbsDiff(rewards, fixture.ExpectedRewards);
        _output.WriteLine($"reward max |diff| = {diff:E3}; rewards {string.Join(", ", rewards.data<float>().ToArray())}");
        Assert.True(diff <= ImageRewardFixture.Tolerance, $"reward max |diff| {diff:E3}");
    }

    [Fact]
    public void Rewards_from_precomputed_embeds_equal_the_full_pass_and_padding_is_masked()
    {
        using var fixture = ImageRewardFixture.Load();
        using var network = fixture.LoadNetwork();
        using var noGrad = no_grad();
        using var embeds = network.ImageEmbeds(fixture.PixelValues);
        using var viaEmbeds = network.RewardsFromImageEmbeds(embeds, fixture.InputIds, fixture.AttentionMask);
        Assert.True(ImageRewardFixture.MaxAbsDiff(viaEmbeds, fixture.ExpectedRewards) <= ImageRewardFixture.Tolerance);

        // Changing the ids behind the mask must not change the reward (the mask really removes those keys). The last
        // position of row 0 is masked explicitly, so this holds whether or not the fixture's prompt reaches it.
        using var scrambled = fixture.InputIds.clone();
        var lastColumn = scrambled.shape[1] - 1;
        using var mask = fixture.AttentionMask.clone();
        mask[0, lastColumn] = tensor(0L);
        scrambled[0, lastColumn] = tensor(1000L);
        using var maskedOriginal = network.RewardsFromImageEmbeds(embeds, fixture.InputIds, mask);
        using var maskedChange = network.RewardsFromImageEmbeds(embeds, scrambled, mask);
        var maskedDiff = Math.Abs(maskedChange[0].item<float>() - maskedOriginal[0].item<float>());
        _output.WriteLine($"reward change from a masked id: {maskedDiff:E3}");
        Assert.True(maskedDiff <= 1e-6, $"a masked id changed the reward by {maskedDiff:E3}");
        // ...while unmasking every position does change it.
        using var allOnes = ones_like(fixture.AttentionMask);
        using var unmasked = network.RewardsFromImageEmbeds(embeds, scrambled, allOnes);
        Assert.True(ImageRewardFixture.MaxAbsDiff(unmasked, viaEmbeds) > 1e-4);
    }

    [Fact]
    public void Bfloat16_placement_runs_and_stays_close_to_the_fp32_reference()
    {
        using var fixture = ImageRewardFixture.Load();
        using var network = ImageRewardLoader.Load(new ImageRewardFiles(fixture.WeightsFile, fixture.ConfigFile),
            new TensorPlacement(CPU, ScalarType.BFloat16));
        using var noGrad = no_grad();
        using var rewards = network.Rewards(fixture.PixelValues, fixture.InputIds, fixture.AttentionMask);
        Assert.Equal(ScalarType.Float32, rewards.dtype);
        var diff = ImageRewardFixture.MaxAbsDiff(rewards, fixture.ExpectedRewards);
        _output.WriteLine($"bf16 reward max |diff| = {diff:E3}");
        Assert.True(diff < 0.1, $"bf16 reward max |diff| {diff:E3}");
    }

    [Fact]
    public void Parameters_carry_the_release_state_dict_names()
    {
        using var fixture = ImageRewardFixture.Load();
        using var network = fixture.LoadNetwork();
        var names = network.Parameters().Select(p => p.Name).ToHashSet();
        Assert.Contains("blip.visual_encoder.patch_embed.proj.weight", names);
        Assert.Contains("blip.visual_encoder.cls_token", names);
        Assert.Contains("blip.text_encoder.encoder.layer.0.crossattention.self.key.weight", names);
        Assert.Contains("mlp.layers.7.bias", names);
        // Frozen: a reward model passes gradients to its inputs, never to its weights.
        Assert.All(network.Parameters(), p => Assert.False(p.Parameter.requires_grad));
    }

    [Fact]
    public void Pixel_values_of_the_wrong_size_are_refused()
    {
        using var fixture = ImageRewardFixture.Load();
        using var network = fixture.LoadNetwork();
        using var wrong = zeros(1, 3, 64, 64);
        var e = Assert.Throws<ArgumentException>(() => network.ImageEmbeds(wrong));
        Assert.Contains("64", e.Message);
    }
}
