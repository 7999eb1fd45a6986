using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Logging;
using BiasBench.Host.Plugins;
using BiasBench.Host.Runs;
using BiasBench.Torch.Backend;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Serilog;
using ILogger = Microsoft.Extensions.Logging.ILogger;
using Serilog.Events;
using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>
/// Builds the generic host for one CLI invocation: Serilog logging, validated settings, shared services and the
/// plugin catalog (plugins register into the same service collection), then runs the command.
/// </summary>
public sealed partial class BiasBenchApp : IAsyncDisposable
{
    public const string PluginPathVariable = "BIASBENCH_PLUGIN_PATH";
    private readonly IHost _host;

    private BiasBenchApp(IHost host, PluginCatalog catalog, RunLogFileSink logFile, IAnsiConsole console)
    {
        _host = host; Catalog = catalog; LogFile = logFile; Console = console;
    }

    public PluginCatalog Catalog { get; }
    public RunLogFileSink LogFile { get; }
    public IAnsiConsole Console { get; }
    public IServiceProvider Services => _host.Services;
    public ILogger Logger(string category) => Services.GetRequiredService<ILoggerFactory>().CreateLogger(category);
    public HostSettings Settings => Services.GetRequiredService<IOptions<HostSettings>>().Value;

    public static async Task<BiasBenchApp> StartAsync(HostSettings settings, IEnumerable<string> configPluginPaths, bool verbose, IAnsiConsole? console = null,
        Action<PluginCatalog, IServiceCollection>? registerExtra = null)
    {
        console ??= AnsiConsole.Console;
        var logFile = new RunLogFileSink();
        var serilog = new LoggerConfiguration()
            .MinimumLevel.Is(verbose ? LogEventLevel.Debug : LogEventLevel.Information)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("System", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.Sink(new SpectreConsoleSink(console, verbose ? LogEventLevel.Debug : LogEventLevel.Information))
            .WriteTo.Sink(logFile)
            .CreateLogger();

        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = Directory.GetCurrentDirectory(),
            DisableDefaults = true,
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSerilog(serilog, dispose: true);
        builder.Services.AddOptions<HostSettings>()
            .Configure(s =>
            {
                s.Device = settings.Device; s.PluginDirectories = settings.PluginDirectories;
                s.RunsDirectory = settings.RunsDirectory; s.CacheDirectory = settings.CacheDirectory;
                s.Devices = settings.Devices; s.Shard = settings.Shard; s.RunId = settings.RunId;
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddHttpClient();
        // Ctrl-C belongs to the CLI (System.CommandLine cancels the command's token, the run stops cleanly and
        // records 'cancelled'); the default console lifetime would swallow SIGINT and let the run carry on.
        builder.Services.AddSingleton<IHostLifetime, CommandLineLifetime>();

        var catalog = new PluginCatalog();
        var bootLogger = new Serilog.Extensions.Logging.SerilogLoggerFactory(serilog).CreateLogger("BiasBench.Plugins");
        catalog.LoadFrom(PluginCatalog.BuiltInDirectories(), builtIn: true, builder.Services, bootLogger);
        // The user's plugin folder (~/.biasbench/plugins: 'biasbench plugins install') is always loaded when it exists.
        var extra = PluginInstaller.DefaultDirectoryIfPresent().Concat(settings.PluginDirectories)
            .Concat((Environment.GetEnvironmentVariable(PluginPathVariable) ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            .Concat(configPluginPaths);
        catalog.LoadFrom(extra, builtIn: false, builder.Services, bootLogger);
        registerExtra?.Invoke(catalog, builder.Services);
        builder.Services.AddSingleton(catalog);

        var host = builder.Build();
        await host.StartAsync(); // runs ValidateOnStart: bad --device fails here, before any work
        return new BiasBenchApp(host, catalog, logFile, console);
    }

    /// <summary>Parses and validates a config against the loaded plugins (no work is done).</summary>
    /// <param name="missingWeights">When given, weights that are not downloaded are listed here instead of failing the
    /// plan (what <c>validate</c> does); <c>run</c> passes none, so missing weights stop it before any work.</param>
    public IReadOnlyList<PlannedStage> Plan(ExperimentConfig config, IReadOnlyList<ConfigProblem>? earlier = null, ICollection<string>? missingWeights = null) =>
        ExperimentValidator.Validate(config, Catalog, earlier, missingWeights);

    public async Task<(RunStore Store, IReadOnlyList<StageOutput> Outputs)> RunAsync(ExperimentConfig config, IReadOnlyList<PlannedStage> plan, bool interactiveProgress, CancellationToken ct)
    {
        var log = Logger("BiasBench.Run");
        var settings = Settings;
        var runsRoot = settings.RunsDirectory
            ?? (config.RunsDirectory is { } r ? Path.GetFullPath(Path.Combine(config.Directory, r)) : Path.GetFullPath("runs"));
        var cacheDir = settings.CacheDirectory
            ?? (config.CacheDirectory is { } c ? Path.GetFullPath(Path.Combine(config.Directory, c)) : null)
            ?? (Environment.GetEnvironmentVariable("BIASBENCH_CACHE") is { Length: > 0 } env ? env : Path.Combine(runsRoot, ".cache"));
        var device = settings.Device != "auto" ? settings.Device : config.Device ?? "auto";

        var shard = settings.Shard is { Length: > 0 } shardText ? ShardSpec.Parse(shardText) : (ShardSpec?)null;
        var store = OpenStore(config, plan, runsRoot, shard, settings.RunId);
        LogFile.Open(store.LogFile);
        log.LogInformation("BiasBench {Version}: experiment {Experiment}, run folder {Folder}", typeof(BiasBenchApp).Assembly.GetName().Version, config.Experiment, store.Directory);
        // Earlier runs of this runs folder or cache whose process died without recording an end state.
        foreach (var dir in RunLocks.MarkInterrupted(RunLocks.Candidates(runsRoot, cacheDir).Where(d => d != store.Directory), store.RunId))
            log.LogWarning("Run {Folder} was killed while running (no live process holds its lock); its manifest now says 'interrupted'. Its finished items are in the cache.", dir);
        RunLocks.Register(cacheDir, store.Directory);

        RunEnvironment environment;
        ScaleOut scale;
        try
        {
            var torch = DescribeTorch(device, log, out var resolvedDevice);
            scale = ResolveScaleOut(settings, shard, resolvedDevice, log);
            environment = new RunEnvironment(scale.Devices[0], store.Directory, config.Directory, cacheDir, config.Seed);
            FillManifest(store, config, plan, torch, environment);
            DescribeScaleOut(store, config, plan, scale);
            store.SaveManifest();
        }
        catch (Exception e)
        {
            log.LogError("Run failed before its first stage: {Reason}", e.Message);
            store.Manifest["status"] = "failed";
            store.Manifest["error"] = e.Message;
            store.SaveManifest();
            store.ReleaseLock();
            throw;
        }

        var runner = new ExperimentRunner(config, plan, Services, store, environment, log, null, scale);
        if (interactiveProgress)
        {
            await Console.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async p =>
                {
                    var withProgress = new ExperimentRunner(config, plan, Services, store, environment, log, new SpectreRunProgress(p), scale);
                    runner = withProgress;
                    await withProgress.RunAsync(ct);
                });
        }
        else await runner.RunAsync(ct);
        return (store, runner.Outputs);
    }

    private static JsonObject DescribeTorch(string device, ILogger log, out string resolvedDevice)
    {
        try
        {
            var info = TorchBackend.EnsureInitialized();
            var d = TorchBackend.ResolveDevice(device);
            resolvedDevice = d.ToString();
            log.LogInformation("Torch backend: {Backend}; libtorch {LibTorch}; device {Device}", info, LibTorchVersion(info), resolvedDevice);
            return new JsonObject
            {
                ["source"] = info.Source, ["libtorch_dir"] = info.LibTorchDirectory, ["libtorch_version"] = LibTorchVersion(info),
                ["torchsharp_version"] = info.TorchSharpVersion, ["cuda_available"] = info.CudaAvailable, ["cuda_devices"] = info.CudaDeviceCount,
                ["glibcxx_weak_patch"] = info.PatchedGlibcxx, ["device"] = resolvedDevice, ["cuda_unavailable_reason"] = info.CudaUnavailableReason,
            };
        }
        catch (Exception e) when (e is DllNotFoundException or DirectoryNotFoundException or TypeInitializationException or NotSupportedException or IOException
                                       or BadImageFormatException or ExternalException)
        {
            if (device.StartsWith("cuda")) throw new InvalidOperationException($"--device {device}: libtorch could not be loaded ({e.Message}).", e);
            resolvedDevice = "cpu";
            log.LogWarning("Torch backend unavailable ({Message}); torch-based plugins will fail, table-only stages still run.", e.Message);
            return new JsonObject { ["error"] = e.Message, ["device"] = "cpu" };
        }
    }

    /// <summary>libtorch's version: PyTorch's torch/version.py for an external libtorch, else the NuGet package in deps.json.</summary>
    public static string LibTorchVersion(TorchBackendInfo info)
    {
        try
        {
            var versionPy = Path.Combine(info.LibTorchDirectory, "..", "version.py");
            if (File.Exists(versionPy))
                foreach (var line in File.ReadLines(versionPy))
                    if (line.StartsWith("__version__")) return line.Split('=', 2)[1].Trim().Trim('\'', '"');
            if (AppContext.GetData("APP_CONTEXT_DEPS_FILES") is string deps)
                foreach (var file in deps.Split(';', StringSplitOptions.RemoveEmptyEntries))
                {
                    var text = File.ReadAllText(file);
                    var i = text.IndexOf("\"libtorch-cpu-linux-x64/", StringComparison.Ordinal);
                    if (i >= 0) return text[(i + 24)..text.IndexOf('"', i + 1)] + " (cpu)";
                }
        }
        catch (IOException) { }
        return "unknown";
    }

    private void FillManifest(RunStore store, ExperimentConfig config, IReadOnlyList<PlannedStage> plan, JsonObject torch, RunEnvironment env)
    {
        var m = store.Manifest;
        m["run_id"] = store.RunId;
        m["experiment"] = config.Experiment;
        m["description"] = config.Description;
        m["started_utc"] = DateTime.UtcNow.ToString("O");
        m["config_file"] = config.FilePath;
        // Masked on the parsed YAML: ${VAR}s named like secrets and every value of a [Secret] option, whatever its variable's name.
        m["resolved_config"] = ExperimentConfigLoader.MaskSecrets(config.ResolvedYaml, SecretValues.All);
        m["seed"] = config.Seed;
        m["cache_dir"] = env.CacheDirectory;
        m["biasbench_version"] = typeof(BiasBenchApp).Assembly.GetName().Version?.ToString();
        m["contracts_version"] = PluginCatalog.HostContractVersion.ToString();
        m["git"] = GitInfo(config.Directory);
        m["machine"] = new JsonObject
        {
            ["host"] = Environment.MachineName,
            ["os"] = RuntimeInformation.OSDescription,
            ["arch"] = RuntimeInformation.OSArchitecture.ToString(),
            ["cpu_cores"] = Environment.ProcessorCount,
            ["memory_gb"] = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1e9, 1),
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
        };
        m["torch"] = torch;
        m["plugins"] = new JsonArray(Catalog.Plugins.Select(p => (JsonNode)new JsonObject
        {
            ["name"] = p.Name, ["version"] = p.Version, ["build_id"] = p.BuildId, ["path"] = p.Path, ["built_in"] = p.BuiltIn, ["error"] = p.Error,
            ["installed_from"] = Path.IsPathRooted(p.Path) && PluginInstaller.ReadRecord(Path.GetDirectoryName(p.Path)!) is { } installed ? installed.Source : null,
        }).ToArray());
        m["components"] = new JsonArray(plan.SelectMany(s => s.Components.Select(c => (JsonNode)new JsonObject
        {
            ["stage"] = s.Config.Id,
            ["kind"] = c.Component.Descriptor.Kind.ToString(),
            ["name"] = c.Component.Descriptor.Name,
            ["version"] = c.Component.Descriptor.Version,
            ["plugin"] = c.Component.Plugin.Name,
            ["plugin_build_id"] = c.Component.Plugin.BuildId,
            ["options"] = SecretOptions.MaskedJson(c.Options),
        })).ToArray());
        foreach (var referenced in ComponentReferences.ManifestEntries(plan)) m["components"]!.AsArray().Add(referenced); // components in options
    }

    private static JsonObject GitInfo(string directory)
    {
        string? Run(string args)
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo("git", args)
                {
                    WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                });
                if (p is null) return null;
                var output = p.StandardOutput.ReadToEnd();
                return p.WaitForExit(3000) && p.ExitCode == 0 ? output.Trim() : null;
            }
            catch (Exception) { return null; }
        }
        var commit = Run("rev-parse HEAD");
        return new JsonObject { ["commit"] = commit, ["dirty"] = commit is null ? null : Run("status --porcelain")?.Length > 0 };
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        LogFile.Dispose();
    }

    private sealed class CommandLineLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
