using BiasBench.Networks.Clip;
using BiasBench.Torch.Backend;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Clip;

public sealed class ClipTransformerTests
{
    public ClipTransformerTests() => TorchBackend.EnsureInitialized();

    [Theory]
    // Reference values: exact GELU x * Phi(x); quick GELU x * sigmoid(1.702 x); tanh-approximate GELU.
    [InlineData(ClipActivation.Gelu, 1.0, 0.8413447460685429)]
    [InlineData(ClipActivation.Gelu, -2.0, -0.04550026389635842)]
    [InlineData(ClipActivation.QuickGelu, 1.0, 0.8457957659328212)]
    [InlineData(ClipActivation.QuickGelu, -2.0, -0.06434137685579186)]
    [InlineData(ClipActivation.GeluTanh, 1.0, 0.8411919906082768)]
    public void ActivationsMatchTheirDefinitions(ClipActivation activation, double x, double expected)
    {
        using var input = tensor(new[] { x }, ScalarType.Float64);
        using var y = ClipMlp.Activate(input, activation);
        Assert.Equal(expected, y.item<double>(), 1e-12);
    }

    [Fact]
    public void AttentionWithAnAllowAllMaskEqualsUnmaskedAttention()
    {
        using var attention = new ClipAttention(8, 2);
        using (no_grad())
            foreach (var p in attention.parameters()) p.normal_(generator: manual_seed(1));
        using var x = randn(2, 5, 8, generator: manual_seed(2));
        using var mask = ones(5, 5, ScalarType.Bool);
        using var unmasked = attention.forward(x, null);
        using var masked = attention.forward(x, mask);
        Assert.True(unmasked.allclose(masked, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void CausalMaskMakesEarlyTokensIndependentOfLaterOnes()
    {
        using var encoder = new ClipEncoder(2, 8, 2, 16, 1e-5, ClipActivation.QuickGelu);
        using (no_grad())
            foreach (var p in encoder.parameters()) p.normal_(generator: manual_seed(3));
        using var x = randn(1, 6, 8, generator: manual_seed(4));
        using var changed = x.clone();
        using (no_grad()) changed[0, 5].fill_(10.0);
        using var causal = ones(6, 6, ScalarType.Bool).tril();
        using var a = encoder.forward(x, causal);
        using var b = encoder.forward(changed, causal);
        Assert.True(a[0, ..5].allclose(b[0, ..5], rtol: 0, atol: 1e-6), "a later token changed earlier outputs");
        Assert.False(a[0, 5].allclose(b[0, 5], rtol: 0, atol: 1e-3));
    }
}
