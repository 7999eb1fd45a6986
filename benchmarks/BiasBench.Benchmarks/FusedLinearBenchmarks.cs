using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Jobs;
using BiasBench.Torch.Backend;
using BiasBench.Torch.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Benchmarks;

/// <summary>
/// One linear layer on a 3-D activation [batch, tokens, in] at CLIP sizes, fp32 on the CPU: libtorch's C++
/// <c>nn.functional.linear</c> (matmul, then a separate broadcast bias add for inputs of more than two dimensions)
/// against <see cref="FusedLinear.Apply"/> (addmm on the flattened input, the bias in the GEMM). Both in the same run.
/// Shapes: ViT-H/14 image tower (257 tokens, width 1280: fused QKV 1280->3840, MLP 1280->5120 and 5120->1280) and the
/// ViT-H text tower's MLP (77 tokens, 1024->4096). The batch is small because this is a 2-core machine.
/// </summary>
[Config(typeof(LongerInProcessConfig))]
[MemoryDiagnoser]
public class FusedLinearBenchmarks
{
    private Tensor _input = null!, _weight = null!, _bias = null!;

    // name: batch x tokens x in -> out
    [Params("qkv:2x257x1280x3840", "fc1:2x257x1280x5120", "fc2:2x257x5120x1280", "text-fc1:8x77x1024x4096")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        TorchBackend.EnsureInitialized();
        var dims = Shape.Split(':')[1].Split('x').Select(long.Parse).ToArray(); // batch, tokens, in, out
        var generator = new Generator(seed: 7);
        _input = randn([dims[0], dims[1], dims[2]], generator: generator);
        _weight = randn([dims[3], dims[2]], generator: generator) / Math.Sqrt(dims[2]);
        _bias = randn([dims[3]], generator: generator);
        using var reference = nn.functional.linear(_input, _weight, _bias);
        using var fused = FusedLinear.Apply(_input, _weight, _bias);
        var diff = (reference - fused).abs().max().item<float>();
        if (diff > 1e-3f) throw new InvalidOperationException($"{Shape}: the fused path differs from nn.functional.linear by {diff}.");
    }

    [Benchmark(Baseline = true)]
    public float MatmulThenBiasAdd()
    {
        using var y = nn.functional.linear(_input, _weight, _bias);
        return y.shape[^1];
    }

    [Benchmark]
    public float FusedAddmm()
    {
        using var y = FusedLinear.Apply(_input, _weight, _bias);
        return y.shape[^1];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _input.Dispose(); _weight.Dispose(); _bias.Dispose();
    }
}

/// <summary>In-process with 15 measured iterations: a shared 2-core machine is noisy, and one GEMM is ~0.1 s here.</summary>
public sealed class LongerInProcessConfig : BenchmarkDotNet.Configs.ManualConfig
{
    public LongerInProcessConfig() =>
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(15)
            .WithToolchain(BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain.Instance));
}
