using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Training;

public static class GradientClipping
{
    /// <summary>
    /// torch.nn.utils.clip_grad_norm_ (2-norm): the norm of all gradients together; when it exceeds
    /// <paramref name="maxNorm"/>, every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping.
    /// </summary>
    public static double ClipByGlobalNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var grads = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return 0;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var norms = stack(grads.Select(g => g.to(ScalarType.Float32).norm()).ToArray());
        var total = norms.norm().item<float>();
        var coefficient = maxNorm / (total + 1e-6);
        if (coefficient < 1)
            foreach (var g in grads) g.mul_(coefficient);
        return total;
    }
}
