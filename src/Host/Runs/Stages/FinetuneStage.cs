using BiasBench.Abstractions;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>Runs a fine-tuner; its checkpoints go under the run folder and its training log becomes the stage table.</summary>
internal static class FinetuneStage
{
    public static async Task RunAsync(StageContext ctx, CancellationToken ct)
    {
        foreach (var component in ctx.Planned.Components)
        {
            var tuner = ctx.Create<IFineTuner>(component);
            var dir = Path.Combine(ctx.Store.Directory, "finetune", RunStore.SafeFileName(ctx.Stage.Id));
            Directory.CreateDirectory(dir);
            using var task = ctx.Progress.Start($"{ctx.Stage.Id}: {tuner.Name}", 1000);
            var last = 0;
            var progress = new Progress<double>(p =>
            {
                var now = (int)Math.Clamp(p * 1000, 0, 1000);
                if (now > last) { task.Increment(now - last); last = now; }
            });
            var result = await FineTuneRuns.RunAsync(ctx, component, tuner, dir, progress, ct); // work folder, checkpoint as the stage's output
            ctx.Output.Tables.Add(result.TrainingLog);
            ctx.Output.Tables.AddRange(result.Tables);
            ctx.Output.Figures.AddRange(result.Figures);
            ctx.Output.Findings.AddRange(result.Findings);
            ctx.Output.Findings.Add(new Finding($"{tuner.Name}: checkpoint written to {ctx.Store.Relative(result.CheckpointPath)}"));
        }
    }
}
