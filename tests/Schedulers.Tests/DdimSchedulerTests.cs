using System.Text.Json;
using BiasBench.TestSupport;
using BiasBench.Torch.Weights;
using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

public sealed class DdimSchedulerTests
{
    private static Dictionary<string, object?> DiffusersTestConfig(params (string Key, object? Value)[] overrides)
    {
        // diffusers tests/schedulers/test_scheduler_ddim.py get_scheduler_config
        var config = new Dictionary<string, object?>
        {
            ["num_train_timesteps"] = 1000, ["beta_start"] = 0.0001, ["beta_end"] = 0.02, ["beta_schedule"] = "linear", ["clip_sample"] = true,
        };
        foreach (var (k, v) in overrides) config[k] = v;
        return config;
    }

    private static Tensor FullLoop(IDiffusionScheduler scheduler, int steps = 10)
    {
        var schedule = scheduler.Schedule(steps);
        var sample = DiffusersTestSuite.SampleDeter();
        for (var i = 0; i < schedule.Count; i++)
        {
            using var scope = NewDisposeScope();
            var step = scheduler.Step(schedule, i, DiffusersTestSuite.Model(sample, schedule.Timesteps[i]), sample);
            sample.Dispose();
            sample = step.PrevSample.MoveToOuterDisposeScope();
        }
        return sample;
    }

    [Theory]
    [InlineData("epsilon", null, null, 172.0067, 0.223967)]
    [InlineData("v_prediction", null, null, 52.5302, 0.0684)]
    [InlineData("epsilon", true, 0.01, 149.8295, 0.1951)]
    [InlineData("epsilon", false, 0.01, 149.0784, 0.1941)]
    public void FullLoopMatchesDiffusersTestSuite(string prediction, bool? setAlphaToOne, double? betaStart, double sum, double mean)
    {
        var config = DiffusersTestConfig(("prediction_type", prediction));
        if (setAlphaToOne is { } one) config["set_alpha_to_one"] = one;
        if (betaStart is { } b) config["beta_start"] = b;
        using var result = FullLoop(DiffusersTestSuite.Build("ddim", config));
        DiffusersTestSuite.AssertSumMean(result, sum, mean, $"DDIM {prediction} set_alpha_to_one={setAlphaToOne} beta_start={betaStart}");
    }

    [Fact]
    public void AddNoiseThenLoopMatchesDiffusersTestSuite()
    {
        // test_full_loop_with_noise: add_noise at timesteps[8] of a 10-step schedule, then the last two steps.
        var scheduler = DiffusersTestSuite.Build("ddim", DiffusersTestConfig());
        var schedule = scheduler.Schedule(10);
        using var scope = NewDisposeScope();
        var sample = scheduler.AddNoise(DiffusersTestSuite.SampleDeter(), DiffusersTestSuite.NoiseDeter(), tensor(new[] { (long)schedule.Timesteps[8] }));
        using (var viaSchedule = scheduler.AddNoise(schedule, 8, DiffusersTestSuite.SampleDeter(), DiffusersTestSuite.NoiseDeter()))
            Assert.Equal(0.0, SchedulerFixture.MaxAbsDiff(viaSchedule, sample));
        for (var i = 8; i < schedule.Count; i++)
            sample = scheduler.Step(schedule, i, DiffusersTestSuite.Model(sample, schedule.Timesteps[i]), sample).PrevSample;
        DiffusersTestSuite.AssertSumMean(sample, 354.5418, 0.4616, "DDIM add_noise + loop");
    }

    [Theory]
    [InlineData("leading", 1, 5, new[] { 801, 601, 401, 201, 1 })] // diffusers test_steps_offset
    [InlineData("leading", 0, 10, new[] { 900, 800, 700, 600, 500, 400, 300, 200, 100, 0 })]
    [InlineData("trailing", 0, 4, new[] { 999, 749, 499, 249 })]
    [InlineData("linspace", 0, 4, new[] { 999, 666, 333, 0 })]
    public void TimestepSpacingFollowsDiffusers(string spacing, int offset, int steps, int[] expected)
    {
        var scheduler = DiffusersTestSuite.Build("ddim", DiffusersTestConfig(("timestep_spacing", spacing), ("steps_offset", offset)));
        var schedule = scheduler.Schedule(steps);
        Assert.Equal(expected.Select(t => (double)t), schedule.Timesteps);
        Assert.Equal(ScalarType.Int64, schedule.TimestepDType);
        using var t0 = schedule.TimestepTensor(0);
        Assert.Equal(expected[0], t0.item<long>());
    }

    [Fact]
    public void TrailingSpacingThatDiffusersGetsWrongIsRefused()
    {
        // np.arange(1000, 0, -1000/61) has 62 entries, the last rounding to timestep -1 (which diffusers indexes as 999).
        var scheduler = DiffusersTestSuite.Build("ddim", DiffusersTestConfig(("timestep_spacing", "trailing")));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Schedule(61));
        Assert.Contains("-1", e.Message);
    }

    /// <summary>ddpm_unet/: DDIMScheduler.from_config(the DDPM scheduler_config.json) resolves to cases.json's ddim_config
    /// and gives its 10- and 5-step timesteps; the 5-step eta=1 run draws one variance noise per step. (The UNet part of
    /// that fixture is checked by the networks tests; it records no per-step model outputs for the scheduler alone.)</summary>
    [Fact]
    public void DdimFromDdpmConfigMatchesDdpmUnetFixture()
    {
        using var cases = Fixtures.Json("ddpm_unet/cases.json");
        var root = cases.RootElement;
        var config = SchedulerConfig.FromFile(Fixtures.File("ddpm_unet/scheduler/scheduler_config.json"));
        var expected = SchedulerConfig.FromJson(root.GetProperty("ddim_config").GetRawText(), "ddpm_unet/cases.json ddim_config");
        var ddim = (DdimScheduler)SchedulerFactory.Create(expected.ClassName!, config);
        var reference = (DdimScheduler)SchedulerFactory.FromConfig(expected);
        Assert.Equal(reference.ClipSample, ddim.ClipSample);
        Assert.Equal(reference.ClipSampleRange, ddim.ClipSampleRange);
        Assert.Equal(reference.SetAlphaToOne, ddim.SetAlphaToOne);
        Assert.Equal(reference.StepsOffset, ddim.StepsOffset);
        Assert.Equal(reference.Spacing, ddim.Spacing);
        Assert.Equal(reference.PredictionType, ddim.PredictionType);
        Assert.Equal(reference.BetaSchedule.AlphasCumprod, ddim.BetaSchedule.AlphasCumprod);

        foreach (var key in root.EnumerateObject().Select(p => p.Name).Where(k => k.EndsWith("_timesteps", StringComparison.Ordinal)))
        {
            var timesteps = root.GetProperty(key).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Assert.Equal(timesteps, ddim.Schedule(timesteps.Length).Timesteps);
        }

        using var file = SafeTensorsFile.Open(Fixtures.File("ddpm_unet/cases.safetensors"));
        var noiseKey = file.Entries.Keys.Single(k => k.EndsWith("_variance_noise", StringComparison.Ordinal));
        var stochastic = (DdimScheduler)SchedulerFactory.Create("ddim", config, new SchedulerSettings { Eta = 1 });
        var noisySchedule = stochastic.Schedule((int)file.Entries[noiseKey].Shape[0]);
        Assert.All(Enumerable.Range(0, noisySchedule.Count), i => Assert.True(stochastic.NeedsNoise(noisySchedule, i)));
    }

    /// <summary>Gradients flow through a step to the model output and the sample with the analytic DDIM
    /// coefficients: prev = sqrt(a') (x - sqrt(1-a) eps) / sqrt(a) + sqrt(1 - a') eps.</summary>
    [Fact]
    public void GradientsFlowToModelOutputAndSample()
    {
        var scheduler = DiffusersTestSuite.Build("ddim", DiffusersTestConfig(("clip_sample", false)));
        var schedule = scheduler.Schedule(10);
        const int stepIndex = 3;
        using var scope = NewDisposeScope();
        var eps = randn(2, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(1)).requires_grad_(true);
        var x = randn(2, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(2)).requires_grad_(true);
        var step = scheduler.Step(schedule, stepIndex, eps, x);
        (step.PrevSample.sum() + step.PredOriginalSample!.sum() * 0).backward();

        var t = (int)schedule.Timesteps[stepIndex];
        double a = scheduler.BetaSchedule.AlphasCumprod[t], aPrev = scheduler.BetaSchedule.AlphasCumprod[t - 100];
        var dEps = -Math.Sqrt(aPrev) * Math.Sqrt(1 - a) / Math.Sqrt(a) + Math.Sqrt(1 - aPrev);
        var dX = Math.Sqrt(aPrev) / Math.Sqrt(a);
        Assert.NotNull(eps.grad);
        Assert.NotNull(x.grad);
        Assert.True((eps.grad! - dEps).abs().max().item<float>() < 1e-5, "d prev / d eps");
        Assert.True((x.grad! - dX).abs().max().item<float>() < 1e-5, "d prev / d sample");

        // ReFL's one-step x_0 is differentiable too: d x0 / d eps = -sqrt(1-a)/sqrt(a).
        var eps2 = eps.detach().requires_grad_(true);
        scheduler.PredictOriginalSample(schedule, stepIndex, eps2, x.detach()).sum().backward();
        Assert.True((eps2.grad! + Math.Sqrt(1 - a) / Math.Sqrt(a)).abs().max().item<float>() < 1e-5, "d x0 / d eps");
    }

    [Fact]
    public void StepLeavesInputsUntouchedAndReturnsOwnHandles()
    {
        var scheduler = DiffusersTestSuite.Build("ddim", DiffusersTestConfig(("prediction_type", "sample"), ("clip_sample", false)));
        var schedule = scheduler.Schedule(10);
        using var scope = NewDisposeScope();
        var output = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(3));
        var sample = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(4));
        var (outputCopy, sampleCopy) = (output.clone(), sample.clone());
        var step = scheduler.Step(schedule, 0, output, sample);
        Assert.True(output.allclose(outputCopy, 0, 0) && sample.allclose(sampleCopy, 0, 0));
        // "sample" prediction returns the model output itself as x_0: a separate handle, safe to dispose.
        Assert.NotSame(output, step.PredOriginalSample);
        step.PredOriginalSample!.Dispose();
        Assert.Equal(outputCopy.sum().item<float>(), output.sum().item<float>());
    }

    [Fact]
    public void EtaRequiresNoiseAndAddsItScaledByTheDdimStd()
    {
        var config = DiffusersTestConfig(("clip_sample", false));
        var deterministic = DiffusersTestSuite.Build("ddim", config);
        var stochastic = DiffusersTestSuite.Build("ddim", config, new SchedulerSettings { Eta = 1 });
        var (s0, s1) = (deterministic.Schedule(10), stochastic.Schedule(10));
        using var scope = NewDisposeScope();
        var eps = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(5));
        var x = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(6));
        var noise = randn(1, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(7));
        Assert.False(deterministic.NeedsNoise(s0, 0));
        Assert.True(stochastic.NeedsNoise(s1, 0));
        Assert.Throws<ArgumentNullException>(() => stochastic.Step(s1, 0, eps, x));

        var acp = stochastic.BetaSchedule.AlphasCumprod;
        double a = acp[900], aPrev = acp[800];
        var std = Math.Sqrt((1 - aPrev) / (1 - a) * (1 - a / aPrev));
        var x0 = (x - Math.Sqrt(1 - a) * eps) / Math.Sqrt(a);
        var expected = Math.Sqrt(aPrev) * x0 + Math.Sqrt(1 - aPrev - std * std) * eps + std * noise;
        var actual = stochastic.Step(s1, 0, eps, x, noise).PrevSample;
        Assert.True((actual - expected).abs().max().item<float>() < 1e-5);
    }

    /// <summary>add_noise, get_velocity and the v-prediction x_0 estimate agree: with v = GetVelocity(x_0, n, t) and
    /// x_t = AddNoise(x_0, n, t), PredictOriginalSample(v, x_t) recovers x_0 (per item timesteps).</summary>
    [Fact]
    public void VelocityAddNoiseAndVPredictionAreConsistent()
    {
        var scheduler = DiffusersTestSuite.Build("ddim", DiffusersTestConfig(("prediction_type", "v_prediction"), ("clip_sample", false)));
        var schedule = scheduler.Schedule(10);
        using var scope = NewDisposeScope();
        var x0 = randn(2, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(1));
        var noise = randn(2, 3, 4, 4, generator: SchedulerNoise.CpuGenerator(2));
        var t = (long)schedule.Timesteps[4];
        var timesteps = tensor(new[] { t, t });
        var xt = scheduler.AddNoise(x0, noise, timesteps);
        var v = scheduler.GetVelocity(x0, noise, timesteps);
        var recovered = scheduler.PredictOriginalSample(schedule, 4, v, xt);
        Assert.True((recovered - x0).abs().max().item<float>() < 1e-5);

        double a = scheduler.BetaSchedule.AlphasCumprod[(int)t];
        Assert.True((v - (Math.Sqrt(a) * noise - Math.Sqrt(1 - a) * x0)).abs().max().item<float>() < 1e-6);
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.AddNoise(x0, noise, tensor(new long[] { 0, 1000 })));
        Assert.Throws<ArgumentException>(() => scheduler.AddNoise(x0, noise, tensor(new[] { 1.5f, 2f })));
    }
}
