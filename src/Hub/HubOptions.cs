namespace BiasBench.Hub;

/// <summary>
/// Where and how to talk to the hub. <see cref="FromEnvironment"/> reads the same variables as huggingface_hub
/// (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE) so both tools share one cache.
/// </summary>
public sealed record HubOptions
{
    public const string DefaultEndpoint = "https://huggingface.co";
    public const string DefaultRevision = "main";

    /// <summary>Hub base address, without a trailing slash.</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>Access token sent as <c>Authorization: Bearer</c> to the hub (never to a CDN on another host).</summary>
    public string? Token { get; init; }

    /// <summary>The hub cache folder (holds <c>models--org--name</c> folders).</summary>
    public string CacheDirectory { get; init; } = DefaultCacheDirectory(Environment.GetEnvironmentVariable);

    /// <summary>No network: files are resolved from the cache (or a local dir) only.</summary>
    public bool Offline { get; init; }

    /// <summary>Attempts per request for connection failures, timeouts, 429 and 5xx (1 = no retry).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>First back-off delay; doubles on each retry, capped at <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>Time allowed for the metadata (HEAD) request and for the headers of a download.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A download that receives no byte for this long is dropped and resumed.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Use copies instead of symlinks in snapshots (set automatically when the file system refuses symlinks).</summary>
    public bool DisableSymlinks { get; init; }

    public static HubOptions FromEnvironment(Func<string, string?>? getEnvironmentVariable = null)
    {
        var env = getEnvironmentVariable ?? Environment.GetEnvironmentVariable;
        return new HubOptions
        {
            Endpoint = (NonEmpty(env("HF_ENDPOINT")) ?? DefaultEndpoint).TrimEnd('/'),
            Token = NonEmpty(env("HF_TOKEN")) ?? NonEmpty(env("HUGGING_FACE_HUB_TOKEN")) ?? ReadTokenFile(env),
            CacheDirectory = DefaultCacheDirectory(env),
            Offline = IsTrue(env("HF_HUB_OFFLINE")),
            DisableSymlinks = IsTrue(env("HF_HUB_DISABLE_SYMLINKS")),
        };
    }

    /// <summary>HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub or ~/.cache/huggingface/hub.</summary>
    public static string DefaultCacheDirectory(Func<string, string?> env) =>
        ExpandHome(NonEmpty(env("HF_HUB_CACHE")) ?? NonEmpty(env("HUGGINGFACE_HUB_CACHE")) ?? Path.Combine(HfHome(env), "hub"));

    public static string HfHome(Func<string, string?> env) =>
        ExpandHome(NonEmpty(env("HF_HOME")) ?? Path.Combine(NonEmpty(env("XDG_CACHE_HOME")) ?? Path.Combine(Home(), ".cache"), "huggingface"));

    /// <summary>huggingface_hub's truthy values for boolean variables.</summary>
    public static bool IsTrue(string? value) =>
        value is not null && value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    // `huggingface-cli login` stores the token in HF_TOKEN_PATH or HF_HOME/token.
    private static string? ReadTokenFile(Func<string, string?> env)
    {
        var path = ExpandHome(NonEmpty(env("HF_TOKEN_PATH")) ?? Path.Combine(HfHome(env), "token"));
        try { return File.Exists(path) ? NonEmpty(File.ReadAllText(path).Trim()) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
    private static string Home() => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
    private static string ExpandHome(string path) =>
        path == "~" ? Home() : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(Home(), path[2..]) : path;
}
