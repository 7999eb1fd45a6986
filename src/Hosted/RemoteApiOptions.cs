using System.ComponentModel.DataAnnotations;
using BiasBench.Abstractions;

namespace BiasBench.Hosted;

/// <summary>
/// Options every hosted-model component shares (YAML keys in snake_case). The API key is never an option: the
/// component reads it from the environment variable named in <see cref="ApiKeyEnv"/>.
/// </summary>
public abstract class RemoteApiOptions : IRemoteApiOptions, IValidatableObject
{
    /// <summary>Base URL of the API; <c>biasbench run --endpoint URL</c> replaces it.</summary>
    public string? Endpoint { get; set; }

    /// <summary>Environment variable holding the API key (e.g. OPENAI_API_KEY); empty for servers that need none.</summary>
    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]*$", ErrorMessage = "api_key_env must name an environment variable (letters, digits, '_').")]
    public string? ApiKeyEnv { get; set; }

    /// <summary>The model to ask (as the API names it).</summary>
    [Required] public string Model { get; set; } = "";

    /// <summary>Most requests this component may send in one run; cached responses are free. Empty = no limit.</summary>
    [Range(0, int.MaxValue)] public int? MaxRequests { get; set; }

    /// <summary>Requests in flight at once, shared by every component talking to the same endpoint.</summary>
    [Range(1, 256)] public int MaxConcurrency { get; set; } = 4;

    /// <summary>Retries after a 429, a 5xx, a dropped connection or an attempt timeout.</summary>
    [Range(0, 20)] public int MaxRetries { get; set; } = 4;

    /// <summary>First backoff delay (exponential with jitter) when the server sends no Retry-After.</summary>
    [Range(0, 600_000)] public int RetryBaseDelayMs { get; set; } = 2000;

    /// <summary>Longest wait between attempts, also for a Retry-After header asking for longer.</summary>
    [Range(0.001, 3600)] public double MaxRetryDelaySeconds { get; set; } = 60;

    /// <summary>Time limit of one attempt.</summary>
    [Range(0.01, 3600)] public double AttemptTimeoutSeconds { get; set; } = 120;

    /// <summary>Time limit of one request, all attempts and waits included.</summary>
    [Range(0.01, 86_400)] public double TotalTimeoutSeconds { get; set; } = 600;

    /// <summary>Share of failed attempts (within 30 s, at least <see cref="CircuitBreakerMinimumAttempts"/>) that opens the circuit.</summary>
    [Range(0.01, 1.0)] public double CircuitBreakerFailureRatio { get; set; } = 0.5;

    [Range(2, 100_000)] public int CircuitBreakerMinimumAttempts { get; set; } = 10;

    /// <summary>How long an open circuit fails requests fast before trying the endpoint again.</summary>
    [Range(0.5, 3600)] public double CircuitBreakSeconds { get; set; } = 30;

    /// <summary>The endpoint used when <see cref="Endpoint"/> is empty (the public API of the service).</summary>
    protected abstract string? DefaultEndpoint { get; }

    public string ResolvedEndpoint => string.IsNullOrWhiteSpace(Endpoint) ? DefaultEndpoint ?? "" : Endpoint!;

    public virtual int RequestsPerItem() => 1;

    public virtual IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Uri.TryCreate(ResolvedEndpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            yield return new ValidationResult($"endpoint must be an http(s) URL, got '{ResolvedEndpoint}'.", [nameof(Endpoint)]);
        else if (!string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Query))
            yield return new ValidationResult("endpoint must not carry credentials or a query string: name the key's environment variable in api_key_env.", [nameof(Endpoint)]);
        if (AttemptTimeoutSeconds > TotalTimeoutSeconds)
            yield return new ValidationResult("attempt_timeout_seconds must not exceed total_timeout_seconds.", [nameof(AttemptTimeoutSeconds)]);
    }
}
