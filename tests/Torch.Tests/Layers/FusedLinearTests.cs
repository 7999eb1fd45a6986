using BiasBench.Torch.Backend;
using BiasBench.Torch.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Torch.Tests.Layers;

public class FusedLinearTests
{
    public FusedLinearTests() => TorchBackend.EnsureInitialized();

    [Theory]
    [InlineData(new long[] { 5, 8 }, true)]
    [InlineData(new long[] { 2, 3, 8 }, true)]
    [InlineData(new long[] { 2, 3, 4, 8 }, true)]
    [InlineData(new long[] { 2, 3, 8 }, false)]
    [InlineData(new long[] { 8 }, true)]
    public void Matches_the_reference_definition_in_value_shape_and_gradient(long[] shape, bool withBias)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(7);
        var x = randn(shape, generator: gen).requires_grad_(true);
        var w = randn([6, 8], generator: gen).requires_grad_(true);
        var b = withBias ? randn([6], generator: gen).requires_grad_(true) : null;

        var fused = FusedLinear.Apply(x, w, b);
        // Reference: y = x W^T + b written out, independent of both libtorch paths.
        var reference = x.matmul(w.t());
        if (b is not null) reference = reference + b;
        Assert.Equal(reference.shape, fused.shape);
        Assert.True(fused.allclose(reference, rtol: 0, atol: 1e-5), $"max diff {(fused - reference).abs().max().item<float>()}");

        var gradFused = autograd.grad([fused.sum()], [x, w], retain_graph: false);
        var gradRef = autograd.grad([reference.sum()], [x, w], retain_graph: false);
        for (var i = 0; i < 2; i++) Assert.True(gradFused[i].allclose(gradRef[i], rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void A_non_contiguous_input_gives_the_same_result()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(3);
        var x = randn([3, 8, 2], generator: gen).transpose(1, 2); // [3, 2, 8], not contiguous
        var layer = new Linear(8, 5, initialize: true);
        var expected = x.contiguous().matmul(layer.Weight.t()) + layer.Bias!;
        Assert.True(layer.forward(x).allclose(expected, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void Parameter_names_are_pytorchs()
    {
        using var layer = new Linear(4, 3);
        Assert.Equal(["weight", "bias"], layer.named_parameters().Select(p => p.name).ToArray());
        using var noBias = new Linear(4, 3, hasBias: false);
        Assert.Equal(["weight"], noBias.named_parameters().Select(p => p.name).ToArray());
    }
}
