using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiasBench.Training.Tests;

public sealed class OptimizerTests
{
    [Fact]
    public void AdamW_matches_an_independent_double_precision_reference_and_TorchSharp()
    {
        double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.05;
        var start = new[] { 0.5, -1.25, 2.0, 0.0 };
        using var p = new Parameter(tensor(start.Select(v => (float)v).ToArray()));
        using var q = new Parameter(tensor(start.Select(v => (float)v).ToArray()));
        using var ours = new AdamW([("w", p)], b1, b2, eps, wd);
        using var theirs = optim.AdamW([q], lr, b1, b2, eps, wd);
        var reference = (double[])start.Clone();
        var m = new double[4]; var v = new double[4];
        for (var step = 1; step <= 6; step++)
        {
            // Loss sum(w^3 * c): gradient 3 w^2 c, different per element and per step.
            var c = new[] { 1.0, -0.5, 0.25, 2.0 };
            foreach (var param in new[] { p, q })
            {
                using var ct = tensor(c.Select(x => (float)x).ToArray());
                using var loss = (param.pow(3) * ct).sum();
                loss.backward();
            }
            ours.Update(lr);
            theirs.step();
            ours.ZeroGrad(); theirs.zero_grad();
            for (var i = 0; i < 4; i++)
            {
                var g = 3 * reference[i] * reference[i] * c[i];
                reference[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                var denom = Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(b2, step)) + eps;
                reference[i] -= lr / (1 - Math.Pow(b1, step)) * m[i] / denom;
            }
        }
        var got = p.data<float>().ToArray();
        var torchSharp = q.data<float>().ToArray();
        for (var i = 0; i < 4; i++)
        {
            // float32 arithmetic over 6 steps against a double reference.
            Assert.True(Math.Abs(got[i] - reference[i]) <= 1e-5, $"w[{i}] {got[i]} vs reference {reference[i]}");
            Assert.True(Math.Abs(got[i] - torchSharp[i]) <= 1e-6, $"w[{i}] {got[i]} vs TorchSharp {torchSharp[i]}");
        }
        Assert.Equal(6, ours.Step);
    }

    [Fact]
    public void Weight_decay_can_skip_chosen_parameters()
    {
        using var a = new Parameter(ones(2));
        using var b = new Parameter(ones(2));
        using var opt = new AdamW([("a.weight", a), ("a.bias", b)], weightDecay: 0.5, decays: (name, _) => !name.EndsWith("bias"));
        foreach (var p in new[] { a, b }) { using var l = (p * 0).sum(); l.backward(); }
        opt.Update(0.1);
        Assert.Equal(0.95f, a.data<float>()[0], 6);
        Assert.Equal(1f, b.data<float>()[0], 6);
    }

    [Fact]
    public void Cosine_schedule_warms_up_linearly_then_decays_to_the_minimum()
    {
        var s = new CosineWarmupSchedule(1e-3, WarmupSteps: 4, TotalSteps: 14, MinLearningRate: 1e-5);
        Assert.Equal(0.25e-3, s.At(0), 12);
        Assert.Equal(1e-3, s.At(3), 12);
        Assert.Equal(1e-3, s.At(4), 12);
        Assert.Equal(1e-5 + 0.5 * (1e-3 - 1e-5), s.At(9), 12);
        Assert.Equal(1e-5, s.At(14), 12);
        Assert.Equal(1e-5, s.At(100), 12);
        for (var t = 4; t < 14; t++) Assert.True(s.At(t + 1) <= s.At(t));
    }

    [Fact]
    public void Gradient_clipping_scales_to_the_global_norm_like_PyTorch()
    {
        using var a = new Parameter(zeros(2));
        using var b = new Parameter(zeros(1));
        a.grad = tensor(new[] { 3f, 0f });
        b.grad = tensor(new[] { 4f });
        var norm = GradientClipping.ClipByGlobalNorm([a, b], 1.0);
        Assert.Equal(5.0, norm, 5);
        Assert.Equal(3 / (5 + 1e-6), a.grad!.data<float>()[0], 5);
        Assert.Equal(4 / (5 + 1e-6), b.grad!.data<float>()[0], 5);
        var again = GradientClipping.ClipByGlobalNorm([a, b], 10.0);
        Assert.Equal(1.0, again, 4);
        Assert.Equal(4 / (5 + 1e-6), b.grad!.data<float>()[0], 5);
    }

    [Fact]
    public void Seeds_depend_on_every_coordinate_and_nothing_else()
    {
        Assert.Equal(Seeding.Derive(1, 2, 3), Seeding.Derive(1, 2, 3));
        Assert.NotEqual(Seeding.Derive(1, 2, 3), Seeding.Derive(1, 3, 2));
        Assert.NotEqual(Seeding.Derive(1, 2), Seeding.Derive(2, 2));
        Assert.Equal(Seeding.Permutation(50, Seeding.Random(4, 1)), Seeding.Permutation(50, Seeding.Random(4, 1)));
        Assert.Equal(Enumerable.Range(0, 50), Seeding.Permutation(50, Seeding.Random(4, 1)).Order());
        using var g1 = Seeding.Torch(9, 1);
        using var g2 = Seeding.Torch(9, 1);
        using var x = rand(5, generator: g1);
        using var y = rand(5, generator: g2);
        Assert.Equal(x.data<float>().ToArray(), y.data<float>().ToArray());
    }
}
