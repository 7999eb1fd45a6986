using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Plugins;
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

    /// <summary>A remote component referenced in another component's options (e.g. a fine-tuner's monitor judge).</summary>
    public sealed record Referenced(PlannedStage Stage, PlannedComponent Owner, string Path, RegisteredComponent Component, IRemoteApiOptions Options)
    {
        public string Label => $"{Component.Descriptor.Name} (option '{Path}' of {Owner.Component.Descriptor.Name})";
    }

    /// <summary>Remote components that stages' components reference in their options, at any depth.</summary>
    public static IEnumerable<Referenced> ReferencedComponents(IReadOnlyList<PlannedStage> plan) =>
        from stage in plan
        from owner in stage.Components
        from nested in ComponentReferences.Nested(owner.Options)
        where nested.Reference.Options is IRemoteApiOptions
        select new Referenced(stage, owner, nested.Path, nested.Plan.Component, (IRemoteApiOptions)nested.Reference.Options!);

    /// <summary>Every remote component's options, whether a stage's own or referenced.</summary>
    private static IEnumerable<IRemoteApiOptions> AllOptions(IReadOnlyList<PlannedStage> plan) =>
        Components(plan).Select(x => x.Options).Concat(ReferencedComponents(plan).Select(r => r.Options));

    /// <summary>Points every remote component at <paramref name="endpoint"/> (e.g. a local server); no-op when null.</summary>
    public static void ApplyEndpoint(IReadOnlyList<PlannedStage> plan, string? endpoint)
    {
        if (string.IsNullOrWhiteSpace(endpoint)) return;
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new InvalidOperationException($"--endpoint must be an http(s) base URL without credentials or query, got '{endpoint}'.");
        foreach (var options in AllOptions(plan)) options.Endpoint = endpoint;
    }

    /// <summary>One line per remote component whose API key variable is named but not set.</summary>
    public static IReadOnlyList<string> MissingKeys(IReadOnlyList<PlannedStage> plan, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        bool Missing(IRemoteApiOptions o) => !string.IsNullOrWhiteSpace(o.ApiKeyEnv) && string.IsNullOrEmpty(environment(o.ApiKeyEnv!));
        return Components(plan)
            .Where(x => Missing(x.Options))
            .Select(x => $"stage '{x.Stage.Config.Id}': {ExperimentValidator.Describe(x.Component.Component.Descriptor.Kind)} '{x.Component.Component.Descriptor.Name}' " +
                         $"({Endpoint(x.Options)}) needs an API key in the environment variable {x.Options.ApiKeyEnv}, which is not set")
            .Concat(ReferencedComponents(plan)
                .Where(r => Missing(r.Options))
                .Select(r => $"stage '{r.Stage.Config.Id}': {ExperimentValidator.Describe(r.Component.Descriptor.Kind)} '{r.Component.Descriptor.Name}' " +
                             $"(option '{r.Path}' of '{r.Owner.Component.Descriptor.Name}', {Endpoint(r.Options)}) needs an API key in the environment variable {r.Options.ApiKeyEnv}, which is not set"))
            .ToList();
    }

    private static string Endpoint(IRemoteApiOptions o) => string.IsNullOrWhiteSpace(o.Endpoint) ? "its default endpoint" : o.Endpoint!;

    /// <summary>One remote component's count. <see cref="Items"/> and <see cref="Requests"/> are null for a referenced
    /// component: how often it is asked depends on the component that uses it, so only its max_requests bounds it.</summary>
    public sealed record DryRunRow(string Stage, string Component, string Endpoint, int? Items, int RequestsPerItem, long? Requests, int? Budget, string? KeyVariable, bool KeyMissing)
    {
        /// <summary>At most this many requests; null when neither the count nor a budget is known.</summary>
        public long? WouldSend => (Requests, Budget) switch
        {
            ({ } r, { } b) => Math.Min(r, b),
            ({ } r, null) => r,
            (null, { } b) => b,
            _ => null,
        };
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
        foreach (var r in ReferencedComponents(plan))
        {
            var keyVar = string.IsNullOrWhiteSpace(r.Options.ApiKeyEnv) ? null : r.Options.ApiKeyEnv;
            rows.Add(new DryRunRow(r.Stage.Config.Id, r.Label, string.IsNullOrWhiteSpace(r.Options.Endpoint) ? "(default)" : r.Options.Endpoint!,
                null, r.Options.RequestsPerItem(), null, r.Options.MaxRequests, keyVar, keyVar is not null && string.IsNullOrEmpty(environment(keyVar))));
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
            table.AddRow(Markup.Escape(r.Stage), Markup.Escape(r.Component), Markup.Escape(r.Endpoint), r.Items?.ToString() ?? "?", r.RequestsPerItem.ToString(),
                r.WouldSend?.ToString() ?? "unbounded", r.Budget?.ToString() ?? "-",
                r.KeyVariable is null ? "none needed" : r.KeyMissing ? $"[red]{Markup.Escape(r.KeyVariable)} not set[/]" : $"{Markup.Escape(r.KeyVariable)} set");
        console.Write(table);
        var total = rows.Sum(r => r.WouldSend ?? 0);
        var unbounded = rows.Where(r => r.WouldSend is null).ToList();
        console.MarkupLine($"[green]Dry run[/]: {Markup.Escape(config.Experiment)} would send at most {total} request(s)" +
                           (unbounded.Count > 0 ? $" plus those of {unbounded.Count} referenced component(s) without max_requests" : "") +
                           " (retries not counted; responses already in the cache are not sent again). Nothing was sent or written.");
        foreach (var r in rows.Where(r => r.Items is null))
            console.MarkupLine($"[yellow]{Markup.Escape(r.Component)}[/] in stage '{Markup.Escape(r.Stage)}' is asked as often as the component using it decides " +
                               (r.Budget is { } b ? $"(at most its max_requests, {b})." : "[red]and has no max_requests: set one to bound its cost.[/]"));
        foreach (var r in rows.Where(r => r.KeyMissing))
            console.MarkupLine($"[yellow]{Markup.Escape(r.KeyVariable!)} is not set[/]: stage '{Markup.Escape(r.Stage)}' ({Markup.Escape(r.Component)}) needs it to run.");
    }
}
