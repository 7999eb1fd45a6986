namespace BiasBench.Host.Runs;

/// <summary>A checkpoint a stage produced (a finetune stage: one per fine-tuner), which later stages load with
/// <c>{ from_stage: ID }</c>.</summary>
/// <param name="Component">The fine-tuner that wrote it.</param>
/// <param name="Path">Absolute path of the checkpoint (a file or a folder, e.g. a diffusers model folder).</param>
/// <param name="WorkDirectory">The fine-tuner's work folder (under the cache; what a re-run resumes from).</param>
public sealed record StageCheckpoint(string Component, string Path, string WorkDirectory);

public sealed partial class StageOutput
{
    /// <summary>Checkpoints the stage produced: what <c>{ from_stage: ID }</c> options of later stages resolve to.</summary>
    public List<StageCheckpoint> Checkpoints { get; } = [];
}
