namespace BiasBench.Schedulers;

/// <summary>
/// Per-sampler choices that diffusers passes to <c>step()</c> rather than storing in the config. They are fixed when the
/// scheduler is built so that <see cref="IDiffusionScheduler.Step"/> has one signature for every scheduler.
/// </summary>
public sealed record SchedulerSettings
{
    public static readonly SchedulerSettings Default = new();

    /// <summary>DDIM's <c>eta</c>: 0 is deterministic DDIM, 1 the DDPM-like ancestral variance. Only DDIM uses it; a
    /// non-zero value for another scheduler is an error rather than silently ignored.</summary>
    public double Eta { get; init; }

    /// <summary>DDIM's <c>use_clipped_model_output</c>: recompute epsilon from the clipped x_0.</summary>
    public bool UseClippedModelOutput { get; init; }
}
