using Xunit.Sdk;
using Xunit.v3;

[assembly: TestPipelineStartup(typeof(BiasBench.Plugins.FineTuning.Tests.TorchInitialization))]

namespace BiasBench.Plugins.FineTuning.Tests;

/// <summary>
/// Loads libtorch through BiasBench's backend before any test is discovered or run: if torch's static constructor ran
/// first (without the explicit load and the GLIBCXX fix), it would fail once and poison every later test. A pipeline
/// startup rather than a module initializer: the runner's -assemblyInfo query then does not load libtorch, which kept
/// that process alive past xUnit's foreground-thread watchdog under load and broke the runner's JSON (xunit#3576).
/// </summary>
public sealed class TorchInitialization : ITestPipelineStartup
{
    public ValueTask StartAsync(IMessageSink diagnosticMessageSink)
    {
        BiasBench.Torch.Backend.TorchBackend.EnsureInitialized();
        return default;
    }

    public ValueTask StopAsync() => default;
}
