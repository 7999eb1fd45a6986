using System.Runtime.CompilerServices;

namespace BiasBench.Schedulers.Tests;

/// <summary>
/// Loads libtorch through BiasBench's backend before any test touches TorchSharp: if torch's static constructor ran
/// first (without the explicit load and the GLIBCXX fix), it would fail once and poison every later test.
/// </summary>
internal static class TorchInitialization
{
    [ModuleInitializer]
    internal static void Initialize() => BiasBench.Torch.Backend.TorchBackend.EnsureInitialized();
}
