using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>
/// Scores the input images with one or more reward models. Writes a long table (one row per image x model, with
/// per-item errors) and, as the primary table, a wide one (one column per model) that analyses read.
/// </summary>
internal static class ScoreStage
{
    public static async Task RunAsync(StageContext ctx, CancellationToken ct)
    {
        var images = ctx.InputImages();
        if (images.Count == 0)
            throw new StageFailedException(ctx.Stage.Id, "there are no images to score: add a data or generate stage with images before it (or name one in 'inputs').");
        var inputs = images.Select(x => (x.Image, ctx.Stage.ScoringPrompt ?? x.Image.Tags.GetValueOrDefault("prompt") ?? ctx.Stage.DefaultPrompt ?? "")).ToList();
        var items = await ItemPipeline.PrepareAsync(inputs, ct);

        var longIds = new List<string?>(); var longPrompts = new List<string?>(); var longModels = new List<string?>();
        var longVersions = new List<string?>(); var longScores = new List<double>(); var longErrors = new List<string?>(); var longNotes = new List<string?>();
        var wide = new DataTable(ctx.Stage.Id) { Caption = "Reward scores, one column per model (NaN = failed item; see the errors column of the long table)." };
        wide.Add("image_id", items.Select(i => (string?)i.Image.Id).ToArray());
        wide.Add("prompt", items.Select(i => (string?)i.Prompt).ToArray());
        foreach (var tag in items.SelectMany(i => i.Image.Tags.Keys).Distinct().Where(t => t != "prompt").Order())
            wide.Add(tag, items.Select(i => i.Image.Tags.GetValueOrDefault(tag)).ToArray());

        foreach (var component in ctx.Planned.Components)
        {
            using var models = ComponentWorkers<IRewardModel>.Create(ctx, component); // one per device worker
            var info = models.Info(m => m.Info);
            ctx.Output.RewardModels[info.Name] = info;
            var configKey = ctx.ConfigurationKey("score", component, info.Name, info.Version, info.WeightsChecksum, info.Preprocessing);
            using var cache = ctx.OpenCache("scores", info.Name, configKey);
            var results = await ItemPipeline.RunAsync(ctx, info.Name, items, cache, models.BatchSize(ctx.Stage.BatchSize, m => m.PreferredBatchSize), models,
                async (model, batch, token) =>
                {
                    var scored = await model.ScoreAsync(batch.Select(i => new RewardRequest(i.Image, i.Prompt)).ToList(), token);
                    // A note (e.g. a truncated prompt) travels with the cached score: {"score": x, "note": "..."}.
                    return scored.Select(r => r.IsSuccess
                        ? double.IsFinite(r.Value)
                            ? (r.Note is null ? (JsonNode?)JsonValue.Create(r.Value) : new JsonObject { ["score"] = r.Value, ["note"] = r.Note }, (string?)null)
                            : (null, $"non-finite score {r.Value}")
                        : (null, r.Error)).ToList();
                }, ct, models.Concurrency(m => m.ConcurrentBatches));

            var column = new double[items.Count];
            var notes = 0; string? firstNote = null;
            for (var i = 0; i < items.Count; i++)
            {
                var (value, error) = results[i];
                var note = value is JsonObject withNote ? withNote["note"]?.GetValue<string>() : null;
                column[i] = value switch { JsonObject o => o["score"]!.GetValue<double>(), null => double.NaN, _ => value.GetValue<double>() };
                if (note is not null) { notes++; firstNote ??= $"{items[i].Image.Id}: {note}"; }
                longNotes.Add(note);
                longIds.Add(items[i].Image.Id); longPrompts.Add(items[i].Prompt); longModels.Add(info.Name);
                longVersions.Add(info.Version); longScores.Add(column[i]); longErrors.Add(error);
            }
            var name = wide.Contains(info.Name) ? $"{info.Name}_{component.Component.Descriptor.Name}" : info.Name;
            wide.Add(name, column);
            if (notes > 0)
                ctx.Output.Warnings.Add($"{info.Name}: {notes} of {items.Count} item(s) carry a note (see the note column of {ctx.Stage.Id}-long); first: {firstNote}");
            var failed = results.Count(r => r.Error is not null);
            if (failed > 0)
                ctx.Output.Warnings.Add($"{info.Name}: {failed} of {items.Count} item(s) failed; first: {results.First(r => r.Error is not null).Error}");
        }
        ctx.Output.Images.AddRange(images.Select(x => x.Image));
        ctx.Output.Tables.Add(wide);
        ctx.Output.Tables.Add(new DataTable($"{ctx.Stage.Id}-long")
            {
                Caption = "One row per image x reward model.",
            }
            .Add("image_id", longIds.ToArray()).Add("prompt", longPrompts.ToArray()).Add("model", longModels.ToArray())
            .Add("model_version", longVersions.ToArray()).Add("score", longScores.ToArray()).Add("error", longErrors.ToArray()).Add("note", longNotes.ToArray()));
    }
}
