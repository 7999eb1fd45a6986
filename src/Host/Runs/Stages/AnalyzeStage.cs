using BiasBench.Abstractions;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>Runs analyses on the primary tables of the input stages (keyed by stage id).</summary>
internal static class AnalyzeStage
{
    public static async Task RunAsync(StageContext ctx, CancellationToken ct)
    {
        var inputs = ctx.Inputs();
        if (inputs.Count == 0)
            throw new StageFailedException(ctx.Stage.Id, "an analyze stage needs 'inputs': the ids of the stages whose tables it reads.");
        var tables = new Dictionary<string, DataTable>(StringComparer.Ordinal);
        var models = new Dictionary<string, RewardModelInfo>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            if (input.Primary is null) throw new StageFailedException(ctx.Stage.Id, $"input stage '{input.Stage.Id}' produced no table.");
            tables[input.Stage.Id] = input.Primary;
            foreach (var (name, info) in input.RewardModels) models[name] = info;
        }
        foreach (var component in ctx.Planned.Components)
        {
            var analysis = ctx.Create<IAnalysis>(component);
            AnalysisResult result;
            try { result = await analysis.RunAsync(new AnalysisInputs(tables, models), ctx.Logger, ct); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new StageFailedException(ctx.Stage.Id, $"analysis '{component.Component.Descriptor.Name}' failed: {e.Message}", e);
            }
            var prefix = ctx.Planned.Components.Count > 1 ? component.Component.Descriptor.Name + "-" : "";
            foreach (var t in result.Tables)
                ctx.Output.Tables.Add(prefix.Length == 0 ? t : RenameTable(t, prefix + t.Name));
            foreach (var f in result.Figures) ctx.Output.Figures.Add(f with { Name = prefix + f.Name });
            ctx.Output.Findings.AddRange(result.Findings);
            ctx.Output.Warnings.AddRange(result.Warnings);
            ctx.Output.ItemsComputed += result.Tables.Sum(t => t.RowCount);
        }
    }

    private static DataTable RenameTable(DataTable t, string name) => new(name, t.Columns) { Source = t.Source, Caption = t.Caption };
}
