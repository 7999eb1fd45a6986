using static TorchSharp.torch;

namespace BiasBench.Schedulers;

/// <summary>
/// The history a multistep scheduler (PNDM, DPM-Solver) carries from one step to the next, as an immutable value:
/// <see cref="IDiffusionScheduler.Step"/> takes the previous state (null before the first step) and returns the next.
/// A state owns its own tensor handles (aliases sharing storage with the tensors they came from), so disposing an old
/// state, or the tensors that were passed to the step that made it, never breaks a newer one. Dispose a state once the
/// next one exists; inside a <see cref="DisposeScope"/> its tensors belong to the scope like any other result.
/// </summary>
public abstract class SchedulerState : IDisposable
{
    protected SchedulerState(int nextStepIndex) => NextStepIndex = nextStepIndex;

    /// <summary>The step index this state is meant for (the step after the one that produced it); stepping another
    /// index with it is an error, since multistep formulas assume consecutive steps.</summary>
    public int NextStepIndex { get; }

    /// <summary>The tensors the state holds.</summary>
    public abstract IEnumerable<Tensor> Tensors { get; }

    /// <summary>Moves the state's tensors to the dispose scope outside the current one (see
    /// <see cref="Tensor.MoveToOuterDisposeScope"/>), e.g. to keep it past a per-step scope.</summary>
    public SchedulerState MoveToOuterDisposeScope()
    {
        foreach (var t in Tensors) t.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Detaches the state's tensors from any dispose scope; the caller then disposes the state.</summary>
    public SchedulerState DetachFromDisposeScope()
    {
        foreach (var t in Tensors) t.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        foreach (var t in Tensors) t.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>What one scheduler step returns. Every tensor is a new handle owned by the caller (registered in the
/// caller's current dispose scope, if any); none aliases the caller's handles.</summary>
/// <param name="PrevSample">x_{t-1}: the next sample of the denoising loop (diffusers' <c>prev_sample</c>).</param>
/// <param name="PredOriginalSample">The model's estimate of x_0 (diffusers' <c>pred_original_sample</c>; for
/// DPM-Solver++ the converted model output). Null for PNDM, which does not form one.</param>
/// <param name="State">The state for the next step (null for single-step schedulers).</param>
public sealed record SchedulerStepOutput(Tensor PrevSample, Tensor? PredOriginalSample, SchedulerState? State);
