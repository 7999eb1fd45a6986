using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Torch.Layers;

/// <summary>
/// A LoRA adapter of one linear layer (peft's LoraLayer without dropout): (alpha / rank) x B(A(x)) with A [rank, in]
/// (<c>lora_A.weight</c>) and B [out, rank] (<c>lora_B.weight</c>), both bias-free and on the fused linear path. A is
/// initialised like nn.Linear (the two layers are registered on the adapted layer as lora_A / lora_B) (kaiming-uniform, a = sqrt(5)), B with zeros, so the adapter starts as a no-op.
/// </summary>
public sealed class LowRankAdapter
{
    public LowRankAdapter(long inFeatures, long outFeatures, int rank, double alpha, ScalarType dtype, Device device, Generator? generator = null)
    {
        if (rank <= 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, "The LoRA rank must be positive.");
        Rank = rank;
        Scale = alpha / rank;
        Down = new Linear(inFeatures, rank, hasBias: false, dtype: ScalarType.Float32);
        Up = new Linear(rank, outFeatures, hasBias: false, dtype: ScalarType.Float32);
        using (no_grad())
        {
            // kaiming_uniform(a = sqrt(5)) on [rank, in] is U(-1/sqrt(in), 1/sqrt(in)); drawn in float32 on the CPU from
            // the given generator, so the initialisation does not depend on the device.
            var bound = 1 / Math.Sqrt(inFeatures);
            using var a = rand([rank, inFeatures], generator: generator).mul_(2 * bound).sub_(bound);
            Down.Weight.copy_(a);
            Up.Weight.zero_();
        }
        Down.to(dtype).to(device);
        Up.to(dtype).to(device);
    }

    public int Rank { get; }

    /// <summary>alpha / rank.</summary>
    public double Scale { get; }

    /// <summary>A: in -> rank.</summary>
    public Linear Down { get; }

    /// <summary>B: rank -> out.</summary>
    public Linear Up { get; }

    /// <summary>The dense update (alpha / rank) B A, [out, in] in float32, to merge into the base weight.</summary>
    public Tensor Delta()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Up.Weight.to(ScalarType.Float32).matmul(Down.Weight.to(ScalarType.Float32)).mul(Scale).MoveToOuterDisposeScope();
    }

    public Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var low = Up.forward(Down.forward(input));
        return (Scale == 1.0 ? low : low.mul(Scale)).MoveToOuterDisposeScope();
    }
}
