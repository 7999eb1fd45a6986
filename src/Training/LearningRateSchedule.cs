namespace BiasBench.Training;

/// <summary>
/// Linear warm-up to the base rate over <see cref="WarmupSteps"/>, then cosine decay to <see cref="MinLearningRate"/> at
/// <see cref="TotalSteps"/>. A pure function of the step, so its checkpointed state is the step count alone.
/// </summary>
public sealed record CosineWarmupSchedule(double BaseLearningRate, long WarmupSteps, long TotalSteps, double MinLearningRate = 0)
{
    /// <summary>The rate for the update that makes step <paramref name="step"/> + 1 (step counts completed updates).</summary>
    public double At(long step)
    {
        if (TotalSteps <= 0) return BaseLearningRate;
        if (step < WarmupSteps) return BaseLearningRate * (step + 1) / WarmupSteps;
        var decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        return MinLearningRate + 0.5 * (BaseLearningRate - MinLearningRate) * (1 + Math.Cos(Math.PI * progress));
    }
}
