using TorchSharp;

namespace BiasBench.Abstractions.Torch;

/// <summary>
/// A reward model usable as a training signal: images as a tensor in, rewards with gradients out.
/// </summary>
public interface IDifferentiableRewardModel : IRewardModel
{
    /// <summary>
    /// <paramref name="images"/>: float tensor [N, 3, H, W] with values in [0, 1] (any H, W; the model applies its own
    /// differentiable resize + normalisation). Returns [N] rewards connected to the input's autograd graph.
    /// </summary>
    torch.Tensor RewardTensor(torch.Tensor images, IReadOnlyList<string> prompts);

    /// <summary>The device the model's weights live on.</summary>
    torch.Device Device { get; }
}
