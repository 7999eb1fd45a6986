using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using static BiasBench.Host.Runs.ExperimentRunner;

namespace BiasBench.Host.Runs;

/// <summary>Runs judges (classifiers, VLMs) on the input images: one row per image x judge with label and probabilities.</summary>
internal static class JudgeStage
{
    public static async Task RunAsync(StageContext ctx, CancellationToken ct)
    {
        var images = ctx.InputImages();
        if (images.Count == 0)
            throw new StageFailedException(ctx.Stage.Id, "there are no images to judge: add a data or generate stage with images before it.");
        var items = await ItemPipeline.PrepareAsync(images.Select(x => (x.Image, x.Image.Tags.GetValueOrDefault("prompt") ?? ctx.Stage.DefaultPrompt ?? "")).ToList(), ct);
        foreach (var component in ctx.Planned.Components)
        {
            using var judges = ComponentWorkers<IJudge>.Create(ctx, component); // one per device worker
            var info = judges.Info(j => j.Info);
            var configKey = ctx.ConfigurationKey("judge", component, info.Name, info.Version, info.WeightsChecksum, string.Join("\n", info.Labels));
            using var cache = ctx.OpenCache("judgements", info.Name, configKey);
            var results = await ItemPipeline.RunAsync(ctx, info.Name, items, cache, judges.BatchSize(ctx.Stage.BatchSize, j => j.PreferredBatchSize), judges,
                async (judge, batch, token) =>
                {
                    var judged = await judge.JudgeAsync(batch.Select(i => i.Image).ToList(), token);
                    // A refusal travels as a value next to its error: never cached, but reported apart from errors.
                    return judged.Select(r => r.IsSuccess ? ((JsonNode?)ToJson(r.Value!), (string?)null)
                        : (r.IsRefusal ? new JsonObject { ["outcome"] = "refusal" } : null, r.Error)).ToList();
                }, ct);
            var table = new DataTable(ctx.Planned.Components.Count == 1 ? ctx.Stage.Id : $"{ctx.Stage.Id}-{info.Name}");
            table.Add("image_id", items.Select(i => (string?)i.Image.Id).ToArray());
            table.Add("judge", items.Select(_ => (string?)info.Name).ToArray());
            // The images' tags (condition, seed, generator...) travel with the verdicts, so analyses can group by them.
            foreach (var tag in items.SelectMany(i => i.Image.Tags.Keys).Distinct().Where(t => t is not ("prompt" or "image_id" or "judge" or "label" or "rationale" or "error" or "outcome") && !t.StartsWith("p_")).Order())
                table.Add(tag, items.Select(i => i.Image.Tags.GetValueOrDefault(tag)).ToArray());
            table.Add("label", results.Select(r => r.Value?["label"]?.GetValue<string>()).ToArray());
            foreach (var label in info.Labels)
                table.Add($"p_{label}", results.Select(r => r.Value?["probabilities"]?[label]?.GetValue<double>() ?? double.NaN).ToArray());
            table.Add("rationale", results.Select(r => r.Value?["rationale"]?.GetValue<string>()).ToArray());
            table.Add("error", results.Select(r => r.Error).ToArray());
            var outcomes = results.Select(r => r.Error is null ? "success" : r.Value?["outcome"]?.GetValue<string>() == "refusal" ? "refusal" : "error").ToList();
            table.Add("outcome", outcomes.Select(o => (string?)o).ToArray());
            AddExtraColumns(table, results.Select(r => r.Error is null ? r.Value : null).ToList());
            ctx.Output.Tables.Add(table);
            if (outcomes.Contains("refusal"))
                ctx.Output.Tables.Add(OutcomeTables.ByCondition($"{table.Name}-outcomes", items.Select(i => i.Image.Tags.GetValueOrDefault("condition")).ToList(), outcomes));
        }
        ctx.Output.Images.AddRange(images.Select(x => x.Image));
    }

    private static JsonObject ToJson(Judgement j) => new()
    {
        ["label"] = j.Label,
        ["probabilities"] = new JsonObject(j.Probabilities.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        ["rationale"] = j.Rationale,
        ["values"] = j.Values.Count == 0 ? null : new JsonObject(j.Values.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        ["details"] = j.Details.Count == 0 ? null : new JsonObject(j.Details.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
    };

    /// <summary>A judge's extra numbers and text (Judgement.Values / Details) as columns, in order of first appearance.</summary>
    private static void AddExtraColumns(DataTable table, IReadOnlyList<JsonNode?> values)
    {
        foreach (var (group, numeric) in new[] { ("values", true), ("details", false) })
        {
            var names = values.SelectMany(v => v?[group] is JsonObject o ? o.Select(kv => kv.Key) : []).Distinct().ToList();
            foreach (var name in names)
            {
                var column = table.Contains(name) ? $"{group}_{name}" : name;
                if (numeric) table.Add(column, values.Select(v => v?[group]?[name]?.GetValue<double>() ?? double.NaN).ToArray());
                else table.Add(column, values.Select(v => v?[group]?[name]?.GetValue<string>()).ToArray());
            }
        }
    }
}
