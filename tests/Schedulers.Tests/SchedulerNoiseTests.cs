using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

public sealed class SchedulerNoiseTests
{
    [Fact]
    public void SeededCpuGeneratorGivesTorchRandn()
    {
        // torch.Generator("cpu").manual_seed(s) and torch.manual_seed(s) share the Mersenne Twister stream.
        using var scope = NewDisposeScope();
        using var g1 = SchedulerNoise.CpuGenerator(42);
        using var g2 = new Generator(42);
        var a = SchedulerNoise.Randn([2, 3, 8, 8], g1);
        var b = randn([2, 3, 8, 8], generator: g2);
        Assert.Equal(0f, (a - b).abs().max().item<float>());
        Assert.Equal(ScalarType.Float32, a.dtype);
    }

    [Fact]
    public void PerItemGeneratorsDrawOneItemEach()
    {
        // diffusers' randn_tensor with a generator list: item i = randn((1, ...), generator=generators[i]).
        using var scope = NewDisposeScope();
        var generators = new[] { SchedulerNoise.CpuGenerator(7), SchedulerNoise.CpuGenerator(8) };
        var batch = SchedulerNoise.Randn([2, 4, 5, 5], generators);
        var second = SchedulerNoise.Randn([1, 4, 5, 5], SchedulerNoise.CpuGenerator(8));
        Assert.Equal(0f, (batch[1] - second[0]).abs().max().item<float>());
        Assert.Throws<ArgumentException>(() => SchedulerNoise.Randn([3, 4, 5, 5], generators));
        foreach (var g in generators) g.Dispose();
    }

    [Fact]
    public void StepWithGeneratorDrawsOnlyWhenNeeded()
    {
        var config = SchedulerConfig.FromJson("""{"clip_sample": false}""");
        var ddim = SchedulerFactory.Create("ddim", config);
        var schedule = ddim.Schedule(4);
        using var scope = NewDisposeScope();
        using var generator = SchedulerNoise.CpuGenerator(0);
        using var reference = SchedulerNoise.CpuGenerator(0);
        var x = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(1));
        ddim.Step(schedule, 0, x, x, generator);
        // eta = 0: nothing drawn, the generator is still at the start of its stream.
        Assert.Equal(0f, (SchedulerNoise.Randn([4], generator) - SchedulerNoise.Randn([4], reference)).abs().max().item<float>());
        var stochastic = SchedulerFactory.Create("ddim", config, new SchedulerSettings { Eta = 1 });
        Assert.Throws<ArgumentNullException>(() => stochastic.Step(stochastic.Schedule(4), 0, x, x, (Generator?)null));
        Assert.Throws<ArgumentException>(() => stochastic.Step(schedule, 0, x, x, generator)); // another scheduler's schedule
    }
}
