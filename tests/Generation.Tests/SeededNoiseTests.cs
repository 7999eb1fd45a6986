using static TorchSharp.torch;

namespace BiasBench.Generation.Tests;

public sealed class SeededNoiseTests
{
    // torch.manual_seed(0); torch.randn(10) and torch.randn(4, 4) in PyTorch (printed to 4 decimals in countless
    // tutorials). Under 16 elements libtorch's CPU normal sampler draws one value at a time; from 16 on it uses its
    // vectorised Box-Muller path: both must be libtorch's own, so diffusers' seeds give the same noise here.
    private static readonly float[] TorchRandn10Seed0 = [1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f, -1.3986f, 0.4033f, 0.8380f, -0.7193f, -0.4033f];
    private static readonly float[] TorchRandn4x4Seed0 =
        [-1.1258f, -1.1524f, -0.2506f, -0.4339f, 0.8487f, 0.6920f, -0.3160f, -2.1152f, 0.3223f, -1.2633f, 0.3500f, 0.3081f, 0.1198f, 1.2377f, 1.1168f, -0.2473f];

    [Fact]
    public void CpuGeneratorReproducesPyTorchsRandnSequences()
    {
        BiasBench.Torch.Backend.TorchBackend.EnsureInitialized();
        using (var noise = new SeededNoise([0]))
        using (var drawn = noise.Draw([10], ScalarType.Float32, CPU))
            AssertClose(TorchRandn10Seed0, drawn.flatten().data<float>().ToArray());
        using (var noise = new SeededNoise([0]))
        using (var drawn = noise.Draw([4, 4], ScalarType.Float32, CPU))
            AssertClose(TorchRandn4x4Seed0, drawn.flatten().data<float>().ToArray());
    }

    [Fact]
    public void EachItemIsItsOwnSeedsDraw()
    {
        BiasBench.Torch.Backend.TorchBackend.EnsureInitialized();
        using var batch = new SeededNoise([3, 5]);
        using var both = batch.Draw([4, 8, 8], ScalarType.Float32, CPU);
        using var alone = new SeededNoise([5]);
        using var five = alone.Draw([4, 8, 8], ScalarType.Float32, CPU);
        Assert.Equal(new long[] { 2, 4, 8, 8 }, both.shape);
        Assert.Equal(0, GenerationFixture.MaxAbsDiff(both[1], five[0]));
        Assert.True(GenerationFixture.MaxAbsDiff(both[0], five[0]) > 0.1);
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 6e-5, $"element {i}: {actual[i]} vs PyTorch's {expected[i]} (printed to 4 decimals)");
    }
}
