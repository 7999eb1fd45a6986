using BiasBench.Abstractions;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>Loads images and/or a table (attributes, labels, scores) from a dataset plugin.</summary>
internal static class DataStage
{
    public static async Task RunAsync(StageContext ctx, CancellationToken ct)
    {
        foreach (var component in ctx.Planned.Components)
        {
            var dataset = ctx.Create<IDataset>(component);
            DatasetContent content;
            try { content = await dataset.LoadAsync(ct); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new StageFailedException(ctx.Stage.Id, $"dataset '{component.Component.Descriptor.Name}' could not be loaded: {e.Message}", e);
            }
            ctx.Output.Images.AddRange(content.Images);
            ctx.Output.Tables.Add(content.Table);
            ctx.Output.ItemsComputed += content.Table.RowCount;
            if (content.Table.Caption is { Length: > 0 } caption) ctx.Logger.LogInformationSafe($"{ctx.Stage.Id}: {caption}");
        }
    }
}

internal static class LoggerExtensions
{
    public static void LogInformationSafe(this Microsoft.Extensions.Logging.ILogger logger, string message) =>
        Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger, "{Message}", message);
}
