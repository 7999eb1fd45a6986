using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>
/// Run-time handling of components that call remote APIs (options implementing <see cref="IRemoteApiOptions"/>):
/// the --endpoint override, the check for missing API keys before any work, and the --dry-run request count.
/// </summary>
public static class RemoteApis
{
    public static IEnumerable<(PlannedStage Stage, PlannedComponent Component, IRemoteApiOptions Options)> Components(IReadOnlyList<PlannedStage> plan) =>
        plan.SelectMany(s => s.Components.Where(c => c.Options is IRemoteApiOptions).Select(c => (s, c, (IRemoteApiOptions)c.Options)));

    /// <summary>Points every remote component at <paramref name="endpoint"/> (e.g. a local server); no-op when null.</summary>
    public static void ApplyEndpoint(IReadOnlyList<PlannedStage> plan, string? endpoint)
    {
        if (string.IsNullOrWhiteSpace(endpoint)) return;
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new InvalidOperationException($"--endpoint must be an http(s) base URL without credentials or query, got '{endpoint}'.");
        foreach (var (_, _, options) in Components(plan)) options.Endpoint = endpoint;
    }

    /// <summary>One line per remote component whose API key variable is named but not set.</summary>
    public static IReadOnlyList<string> MissingKeys(IReadOnlyList<PlannedStage> plan, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        return Components(plan)
            .Where(x => !string.IsNullOrWhiteSpace(x.Options.ApiKeyEnv) && string.IsNullOrEmpty(environment(x.Options.ApiKeyEnv!)))
            .Select(x => $"stage '{x.Stage.Config.Id}': {ExperimentValidator.Describe(x.Component.Component.Descriptor.Kind)} '{x.Component.Component.Descriptor.Name}' " +
                         $"({Endpoint(x.Options)}) needs an API key in the environment variable {x.Options.ApiKeyEnv}, which is not set")
            .ToList();
    }

    private static string Endpoint(IRemoteApiOptions o) => string.IsNullOrWhiteSpace(o.Endpoint) ? "its default endpoint" : o.Endpoint!;

    public sealed record DryRunRow(string Stage, string Component, string Endpoint, int Items, int RequestsPerItem, long Requests, int? Budget, string? KeyVariable, bool KeyMissing)
    {
        public long WouldSend => Budget is { } b ? Math.Min(Requests, b) : Requests;
    }

    /// <summary>
    /// How many requests each remote component would send: items x requests per item (before retries; responses
    /// already in the cache are not sent again), capped by max_requests. Data stages are loaded to count their images
    /// (they send nothing); generate stages make prompts x seeds images per generator. Nothing is written.
    /// </summary>
    public static async Task<IReadOnlyList<DryRunRow>> CountAsync(BiasBenchApp app, ExperimentConfig config, IReadOnlyList<PlannedStage> plan, CancellationToken ct,
        Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var env = new RunEnvironment("cpu", "", config.Directory, Path.Combine(Path.GetTempPath(), "biasbench-dry-run"), config.Seed);
        var imagesByStage = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<(string BaseId, int Images)>();
        var rows = new List<DryRunRow>();
        foreach (var stage in plan)
        {
            var s = stage.Config;
            int Inputs() => s.Inputs.Count > 0 ? s.Inputs.Sum(i => imagesByStage.GetValueOrDefault(i)) : order.LastOrDefault(o => o.Images > 0).Images;
            var items = s.Kind switch
            {
                StageKind.Generate => s.Prompts.Count * s.Seeds.Count,
                StageKind.Score or StageKind.Judge => Inputs(),
                _ => 0,
            };
            var images = s.Kind switch
            {
                StageKind.Data => await CountImagesAsync(stage, env, app.Services, ct),
                StageKind.Generate => items * stage.Components.Count,
                StageKind.Score or StageKind.Judge => items,
                _ => 0,
            };
            foreach (var c in stage.Components)
                if (c.Options is IRemoteApiOptions o)
                {
                    var perItem = o.RequestsPerItem();
                    var keyVar = string.IsNullOrWhiteSpace(o.ApiKeyEnv) ? null : o.ApiKeyEnv;
                    rows.Add(new DryRunRow(s.Id, c.Component.Descriptor.Name, string.IsNullOrWhiteSpace(o.Endpoint) ? "(default)" : o.Endpoint!, items, perItem,
                        (long)items * perItem, o.MaxRequests, keyVar, keyVar is not null && string.IsNullOrEmpty(environment(keyVar))));
                }
            imagesByStage[s.BaseId] = imagesByStage.GetValueOrDefault(s.BaseId) + images;
            order.Add((s.BaseId, images));
        }
        return rows;
    }

    private static async Task<int> CountImagesAsync(PlannedStage stage, RunEnvironment env, IServiceProvider services, CancellationToken ct)
    {
        var count = 0;
        foreach (var c in stage.Components)
        {
            if (c.Component.Descriptor.Factory(new ComponentContext(services, env), c.Options) is not IDataset dataset) continue;
            count += (await dataset.LoadAsync(ct)).Images.Count;
        }
        return count;
    }

    public static void Print(IAnsiConsole console, ExperimentConfig config, IReadOnlyList<DryRunRow> rows)
    {
        if (rows.Count == 0)
        {
            console.MarkupLine($"[green]Dry run[/]: {Markup.Escape(config.Experiment)} calls no remote API: it would send 0 requests.");
            return;
        }
        var table = new Table().AddColumns("Stage", "Component", "Endpoint", "Items", "Requests/item", "Requests", "max_requests", "Key");
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Stage), Markup.Escape(r.Component), Markup.Escape(r.Endpoint), r.Items.ToString(), r.RequestsPerItem.ToString(),
                r.WouldSend.ToString(), r.Budget?.ToString() ?? "-",
                r.KeyVariable is null ? "none needed" : r.KeyMissing ? $"[red]{Markup.Escape(r.KeyVariable)} not set[/]" : $"{Markup.Escape(r.KeyVariable)} set");
        console.Write(table);
        var total = rows.Sum(r => r.WouldSend);
        console.MarkupLine($"[green]Dry run[/]: {Markup.Escape(config.Experiment)} would send at most {total} request(s) " +
                           "(retries not counted; responses already in the cache are not sent again). Nothing was sent or written.");
        foreach (var r in rows.Where(r => r.KeyMissing))
            console.MarkupLine($"[yellow]{Markup.Escape(r.KeyVariable!)} is not set[/]: stage '{Markup.Escape(r.Stage)}' ({Markup.Escape(r.Component)}) needs it to run.");
    }
}
