using System.Globalization;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using Microsoft.Extensions.Logging;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>
/// One fine-tuner's run inside a finetune stage: its work folder, the call (then the fine-tuner is disposed if it is
/// IDisposable), and its checkpoint as the stage's output.
/// </summary>
/// <remarks>
/// The work folder is <c>&lt;cache&gt;/finetune/&lt;stage id&gt;-&lt;key&gt;/</c>, where the key hashes what decides the
/// result: the fine-tuner (name, version, plugin build), its options without secrets (references included: their
/// plugins, weights and options), the identities of the components it resolved when it was created (name, version,
/// plugin build, weights checksum, options) and the run's seed. Re-running the same stage finds the same folder, so a
/// killed fine-tune resumes from its last checkpoint there; changing any of those starts a fresh folder.
/// </remarks>
internal static class FineTuneRuns
{
    public static async Task<FineTuneResult> RunAsync(StageContext ctx, PlannedComponent component, IFineTuner tuner, string outputDirectory,
        IProgress<double>? progress, CancellationToken ct)
    {
        var descriptor = component.Component.Descriptor;
        var key = ctx.ConfigurationKey("finetune", component, descriptor.Name, descriptor.Version, null, ctx.Environment.Seed.ToString(CultureInfo.InvariantCulture));
        var work = Path.Combine(ctx.Environment.CacheDirectory, "finetune", $"{RunStore.SafeFileName(ctx.Stage.Id)}-{key[..16]}");
        var resuming = Directory.Exists(work) && Directory.EnumerateFileSystemEntries(work).Any();
        Directory.CreateDirectory(work);
        ctx.Logger.LogInformation("{Stage}: {Tuner} works in {Folder}{Resume}", ctx.Stage.Id, tuner.Name, work,
            resuming ? " (it holds an earlier run's state: the fine-tuner resumes from it)" : "");

        FineTuneResult result;
        try { result = await tuner.RunAsync(new FineTuneContext(outputDirectory, work, ctx.Environment.Seed, ctx.Logger, progress), ct); }
        finally
        {
            // Its training state (optimiser, trainable copies) goes before later stages need the memory; what it resolved
            // belongs to the host (see ComponentPool).
            (tuner as IDisposable)?.Dispose();
        }

        var checkpoint = string.IsNullOrWhiteSpace(result.CheckpointPath) ? null
            : Path.IsPathRooted(result.CheckpointPath) ? result.CheckpointPath : Path.GetFullPath(Path.Combine(outputDirectory, result.CheckpointPath));
        if (checkpoint is null || !(File.Exists(checkpoint) || Directory.Exists(checkpoint)))
            throw new StageFailedException(ctx.Stage.Id, $"fine-tuner '{tuner.Name}' reported the checkpoint '{result.CheckpointPath}', which does not exist.");
        ctx.Output.Checkpoints.Add(new StageCheckpoint(descriptor.Name, checkpoint, work));
        ctx.Output.Files.Add(ctx.Store.Relative(checkpoint)); // the manifest's entry for the stage names it
        ctx.Logger.LogInformation("{Stage}: {Tuner} checkpoint {Checkpoint}", ctx.Stage.Id, tuner.Name, checkpoint);
        return result;
    }
}
