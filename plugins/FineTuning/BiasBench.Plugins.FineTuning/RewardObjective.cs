using BiasBench.Abstractions.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Plugins.FineTuning;

/// <summary>
/// The training signal: r = sum_i w_i r_i(images, prompt) over differentiable rewards, each computed on its own device
/// and brought back as float32. Records the last batch's mean of each reward (and of the sum) for the logs.
/// </summary>
public sealed class RewardObjective(IReadOnlyList<(string Name, IDifferentiableRewardModel Model, double Weight)> rewards, string prompt)
{
    public IReadOnlyList<(string Name, IDifferentiableRewardModel Model, double Weight)> Rewards { get; } =
        rewards.Count > 0 ? rewards : throw new ArgumentException("At least one training reward is needed.", nameof(rewards));

    public string Prompt { get; } = prompt;

    /// <summary>Per-item rewards of the last call: the weighted sum and each reward.</summary>
    public double[] LastTotal { get; private set; } = [];

    public IReadOnlyDictionary<string, double[]> LastByReward => _lastByReward;
    private readonly Dictionary<string, double[]> _lastByReward = new(StringComparer.Ordinal);

    /// <summary>The weighted reward [N] (float32, on the images' device), connected to the images' graph; each image is
    /// scored against its prompt in <paramref name="prompts"/> (null: <see cref="Prompt"/>).</summary>
    public Tensor Reward(Tensor images, IReadOnlyList<string>? prompts = null)
    {
        using var scope = NewDisposeScope();
        if (prompts is not null && prompts.Count != images.shape[0]) throw new ArgumentException($"{prompts.Count} prompts for {images.shape[0]} images.");
        prompts ??= Enumerable.Repeat(Prompt, (int)images.shape[0]).ToList();
        Tensor? total = null;
        foreach (var (name, model, weight) in Rewards)
        {
            var r = model.RewardTensor(images.to(model.Device), prompts).to(ScalarType.Float32, images.device);
            _lastByReward[name] = Values(r);
            var term = weight == 1.0 ? r : r * weight;
            total = total is null ? term : total + term;
        }
        LastTotal = Values(total!);
        return total!.MoveToOuterDisposeScope();
    }

    /// <summary>DRaFT: loss = -mean(reward).</summary>
    public Tensor DraftLoss(Tensor images, IReadOnlyList<string>? prompts = null)
    {
        using var scope = NewDisposeScope();
        return Reward(images, prompts).mean().neg().MoveToOuterDisposeScope();
    }

    /// <summary>ReFL: loss = mean(relu(margin - reward)) x scale.</summary>
    public Tensor ReflLoss(Tensor images, double margin, double scale, IReadOnlyList<string>? prompts = null)
    {
        using var scope = NewDisposeScope();
        return (nn.functional.relu(margin - Reward(images, prompts)).mean() * scale).MoveToOuterDisposeScope();
    }

    private static double[] Values(Tensor t)
    {
        using var cpu = t.detach().to(ScalarType.Float64, CPU);
        return cpu.data<double>().ToArray();
    }
}
