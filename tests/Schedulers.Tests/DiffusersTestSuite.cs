using static TorchSharp.torch;

namespace BiasBench.Schedulers.Tests;

/// <summary>
/// The deterministic dummy model and samples of diffusers' own scheduler tests (tests/schedulers/test_schedulers.py:
/// <c>dummy_sample_deter</c>, <c>dummy_noise_deter</c>, <c>dummy_model</c>), so that configurations the shared fixtures
/// do not record (PRK warm-up, v-prediction, Karras sigmas, ...) can be checked against the result sums and means that
/// diffusers' test-suite asserts (to its own tolerances: 1e-2 on sums, 1e-3 on means).
/// </summary>
internal static class DiffusersTestSuite
{
    private const int Batch = 4, Channels = 3, Height = 8, Width = 8;

    /// <summary>arange(N).reshape(C, H, W, B) / N, permuted to (B, C, H, W).</summary>
    public static Tensor SampleDeter() => Deter(flip: false);

    /// <summary>As <see cref="SampleDeter"/> but with arange flipped.</summary>
    public static Tensor NoiseDeter() => Deter(flip: true);

    private static Tensor Deter(bool flip)
    {
        using var scope = NewDisposeScope();
        const int n = Batch * Channels * Height * Width;
        var values = arange(n, dtype: ScalarType.Int64);
        if (flip) values = values.flip(-1);
        var sample = (values.reshape(Channels, Height, Width, Batch) / n).permute(3, 0, 1, 2);
        return sample.MoveToOuterDisposeScope();
    }

    /// <summary>diffusers' dummy model: sample * t / (t + 1), t cast to the sample dtype.</summary>
    public static Tensor Model(Tensor sample, double t) => sample * t / (t + 1);

    public static (double Sum, double Mean) AbsSumMean(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var abs = sample.abs();
        return (abs.sum().item<float>(), abs.mean().item<float>());
    }

    /// <summary>Asserts diffusers' full-loop expectations (sum within 1e-2, mean within 1e-3).</summary>
    public static void AssertSumMean(Tensor sample, double? expectedSum, double expectedMean, string what)
    {
        var (sum, mean) = AbsSumMean(sample);
        if (expectedSum is { } s) Assert.True(Math.Abs(sum - s) < 1e-2, $"{what}: sum |x| = {sum}, diffusers expects {s}");
        Assert.True(Math.Abs(mean - expectedMean) < 1e-3, $"{what}: mean |x| = {mean}, diffusers expects {expectedMean}");
    }

    /// <summary>A scheduler built from a config dictionary like diffusers' <c>get_scheduler_config(**kwargs)</c>.</summary>
    public static IDiffusionScheduler Build(string name, Dictionary<string, object?> config, SchedulerSettings? settings = null) =>
        SchedulerFactory.Create(name, SchedulerConfig.FromJson("{}", $"test config for {name}").With(config), settings);
}
