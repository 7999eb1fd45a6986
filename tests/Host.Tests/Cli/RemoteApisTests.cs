using BiasBench.Host.Cli;
using BiasBench.Host.Configuration;
using Spectre.Console;

namespace BiasBench.Host.Tests.Cli;

/// <summary>
/// Remote components referenced in another component's options (a fine-tuner's monitor judge) are seen like stages'
/// own: the missing-key check before any work, --endpoint, and --dry-run (bounded by their max_requests).
/// </summary>
public class RemoteApisTests
{
    private const string KeyVariable = "BB_REFERENCED_JUDGE_KEY";

    private static async Task<(BiasBenchApp App, ExperimentConfig Config, IReadOnlyList<PlannedStage> Plan)> PlanAsync(string maxRequests)
    {
        var dir = TestApp.TempDir();
        var file = Path.Combine(dir, "refs.yaml");
        File.WriteAllText(file, $$"""
            experiment: referenced-remote
            stages:
              - id: tune
                kind: finetune
                plugin: recording-tuner
                options:
                  reward: { plugin: counting-reward }
                  judges:
                    - { plugin: vlm-real-fake, options: { endpoint: https://api.example.org/v1, api_key_env: {{KeyVariable}}, model: some-vlm{{maxRequests}} } }
            """);
        var app = await ReferenceTestApp.StartAsync(Path.Combine(dir, "runs"));
        var config = ExperimentConfigLoader.Load(file);
        return (app, config, app.Plan(config));
    }

    [Fact]
    public async Task A_referenced_remote_judge_without_its_key_stops_the_run_before_any_work()
    {
        var (app, _, plan) = await PlanAsync(", max_requests: 40");
        await using var _ = app;
        var missing = Assert.Single(RemoteApis.MissingKeys(plan, _ => null));
        Assert.Contains("stage 'tune'", missing);
        Assert.Contains("'vlm-real-fake'", missing);
        Assert.Contains("option 'judges[0]' of 'recording-tuner'", missing);
        Assert.Contains(KeyVariable, missing);
        Assert.Empty(RemoteApis.MissingKeys(plan, name => name == KeyVariable ? "set" : null));
    }

    [Fact]
    public async Task Endpoint_override_reaches_referenced_remote_components()
    {
        var (app, _, plan) = await PlanAsync("");
        await using var _ = app;
        RemoteApis.ApplyEndpoint(plan, "http://127.0.0.1:9/v1");
        var judge = Assert.Single(RemoteApis.ReferencedComponents(plan));
        Assert.Equal("http://127.0.0.1:9/v1", judge.Options.Endpoint);
    }

    [Theory]
    [InlineData(", max_requests: 40", "40", "at most its max_requests, 40")]
    [InlineData("", "unbounded", "has no max_requests")]
    public async Task Dry_run_lists_a_referenced_remote_component_bounded_only_by_its_budget(string budget, string wouldSend, string note)
    {
        var (app, config, plan) = await PlanAsync(budget);
        await using var _ = app;
        var rows = await RemoteApis.CountAsync(app, config, plan, TestContext.Current.CancellationToken, _ => null);
        var row = Assert.Single(rows);
        Assert.Null(row.Items);
        Assert.Equal(wouldSend, row.WouldSend?.ToString() ?? "unbounded");
        Assert.True(row.KeyMissing);

        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No });
        console.Profile.Width = 250;
        RemoteApis.Print(console, config, rows);
        var text = output.ToString();
        Assert.Contains("vlm-real-fake (option 'judges[0]' of recording-tuner)", text);
        Assert.Contains(note, text);
    }
}
