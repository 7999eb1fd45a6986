using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

/// <summary>Every scheduler's step is built from torch operations on its inputs: gradients reach the model output and
/// the sample through two consecutive steps (so through the multistep state too), and the inputs are not modified.</summary>
public sealed class DifferentiabilityTests
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames();

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsFlowThroughTwoSteps(string caseName)
    {
        var c = SchedulerFixture.Load(caseName);
        var scheduler = SchedulerFactory.FromConfigFile(c.ConfigPath);
        var schedule = scheduler.Schedule(c.NumInferenceSteps);
        using var scope = NewDisposeScope();
        var x = (randn(1, 3, 8, 8, generator: SchedulerNoise.CpuGenerator(1)) * schedule.InitNoiseSigma).requires_grad_(true);
        var eps0 = randn(1, 3, 8, 8, generator: SchedulerNoise.CpuGenerator(2)).requires_grad_(true);
        var eps1 = randn(1, 3, 8, 8, generator: SchedulerNoise.CpuGenerator(3)).requires_grad_(true);
        var xCopy = x.detach().clone();
        using var generator = SchedulerNoise.CpuGenerator(4);

        var first = scheduler.Step(schedule, 0, eps0, x, generator);
        var second = scheduler.Step(schedule, 1, eps1, first.PrevSample, generator, first.State);
        second.PrevSample.pow(2).sum().backward();

        foreach (var (name, t) in new[] { ("sample", x), ("first model output", eps0), ("second model output", eps1) })
        {
            Assert.NotNull(t.grad);
            Assert.True(t.grad!.abs().sum().item<float>() > 0, $"{caseName}: no gradient reaches the {name}");
            Assert.True(t.grad!.isfinite().all().item<bool>(), $"{caseName}: non-finite gradient for the {name}");
        }
        Assert.Equal(0f, (x.detach() - xCopy).abs().max().item<float>());
    }
}
