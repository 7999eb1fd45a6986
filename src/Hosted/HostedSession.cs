using System.Collections.Concurrent;
using System.Net;
using BiasBench.Abstractions;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace BiasBench.Hosted;

/// <summary>Request counts of one component in one run (what it cost and what the cache saved).</summary>
public sealed class RequestCounters
{
    private int _sent, _fromCache, _attempts;
    /// <summary>Requests sent to the endpoint (cache misses), each counted once however many attempts it took.</summary>
    public int Sent => _sent;
    public int FromCache => _fromCache;
    /// <summary>Attempts on the wire, retries included.</summary>
    public int Attempts => _attempts;
    internal int AddSent() => Interlocked.Increment(ref _sent);
    internal void RemoveSent() => Interlocked.Decrement(ref _sent);
    internal void AddFromCache() => Interlocked.Increment(ref _fromCache);
    internal void AddAttempt() => Interlocked.Increment(ref _attempts);
}

/// <summary>Thrown (never sent) when a component has used up its <c>max_requests</c> for the run.</summary>
public sealed class RequestBudgetExceededException(int budget)
    : Exception($"request budget used up: max_requests = {budget} for this run; the request was not sent (raise max_requests and run again: finished items are cached)");

/// <summary>
/// One component's connection to a hosted API for one run: an <see cref="HttpClient"/> whose handlers, outermost
/// first, are the response cache (checked before anything is sent; raw responses go to the run folder), the request
/// budget and the per-endpoint concurrency limit, the resilience pipeline (total timeout, retries with jitter
/// honouring Retry-After, circuit breaker, per-attempt timeout) and the socket handler.
/// </summary>
public sealed class HostedSession : IDisposable
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> EndpointSlots = new(StringComparer.Ordinal);

    private HostedSession(HttpClient http, Uri baseUri, ApiKey? key, RequestCounters counters, string component)
    {
        Http = http; BaseUri = baseUri; Key = key; Counters = counters; Component = component;
    }

    public HttpClient Http { get; }

    /// <summary>Base URL, always ending in '/' so relative paths append to it.</summary>
    public Uri BaseUri { get; }

    public ApiKey? Key { get; }
    public RequestCounters Counters { get; }
    public string Component { get; }

    /// <summary>Scheme, host and path of the endpoint (no credentials, no query): safe for tables and cache keys.</summary>
    public string EndpointLabel => BaseUri.GetLeftPart(UriPartial.Path).TrimEnd('/');

    public string Redact(string text) => ApiKey.Redact(Key, text);

    /// <summary>
    /// Builds the session. <paramref name="isDefinitiveFailure"/> says which non-2xx responses are answers rather than
    /// faults (a content-policy refusal): those are cached like successes, so a resumed run does not ask again.
    /// </summary>
    public static HostedSession Create(RemoteApiOptions options, RunEnvironment environment, string component,
        Func<HttpStatusCode, string, bool>? isDefinitiveFailure = null, HttpMessageHandler? primaryHandler = null,
        Func<string, string?>? environmentVariables = null)
    {
        var key = ApiKey.FromEnvironment(options.ApiKeyEnv, $"'{component}'", environmentVariables);
        var endpoint = options.ResolvedEndpoint;
        var baseUri = new Uri(endpoint.EndsWith('/') ? endpoint : endpoint + "/", UriKind.Absolute);
        var counters = new RequestCounters();
        var label = baseUri.GetLeftPart(UriPartial.Path).TrimEnd('/');

        var primary = primaryHandler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AutomaticDecompression = DecompressionMethods.All };
        var attempts = new AttemptCountingHandler(counters) { InnerHandler = primary };
        var resilience = new ResilienceHandler(BuildPipeline(options)) { InnerHandler = attempts };
        var slots = EndpointSlots.GetOrAdd($"{label}|{options.MaxConcurrency}", _ => new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency));
        var budget = new BudgetHandler(counters, options.MaxRequests, slots) { InnerHandler = resilience };
        var cache = new ResponseCacheHandler(
            Path.Combine(environment.CacheDirectory, "http"),
            string.IsNullOrEmpty(environment.RunDirectory) ? null : Path.Combine(environment.RunDirectory, "raw", SafeName(component)),
            key, counters, isDefinitiveFailure ?? ((_, _) => false)) { InnerHandler = budget };
        var http = new HttpClient(cache, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        return new HostedSession(http, baseUri, key, counters, component);
    }

    internal static ResiliencePipeline<HttpResponseMessage> BuildPipeline(RemoteApiOptions o)
    {
        var maxDelay = TimeSpan.FromSeconds(o.MaxRetryDelaySeconds);
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddTimeout(new HttpTimeoutStrategyOptions { Timeout = TimeSpan.FromSeconds(o.TotalTimeoutSeconds), Name = "total" });
        if (o.MaxRetries > 0)
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = o.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(o.RetryBaseDelayMs),
                MaxDelay = maxDelay,
                // Retry-After is read here (not by the built-in option) so that it is capped like the backoff.
                ShouldRetryAfterHeader = false,
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, maxDelay)),
                OnRetry = args => { args.Outcome.Result?.Dispose(); return ValueTask.CompletedTask; },
            });
        builder.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
        {
            FailureRatio = o.CircuitBreakerFailureRatio,
            MinimumThroughput = o.CircuitBreakerMinimumAttempts,
            SamplingDuration = TimeSpan.FromSeconds(Math.Max(30, 2 * o.AttemptTimeoutSeconds)),
            BreakDuration = TimeSpan.FromSeconds(o.CircuitBreakSeconds),
        });
        builder.AddTimeout(new HttpTimeoutStrategyOptions { Timeout = TimeSpan.FromSeconds(o.AttemptTimeoutSeconds), Name = "attempt" });
        return builder.Build();
    }

    /// <summary>The server's Retry-After (seconds or an HTTP date), capped at <paramref name="max"/>; null when absent.</summary>
    internal static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeSpan max)
    {
        var header = response?.Headers.RetryAfter;
        if (header is null) return null;
        var wait = header.Delta ?? (header.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        if (wait is null) return null;
        if (wait < TimeSpan.Zero) wait = TimeSpan.Zero;
        return wait > max ? max : wait;
    }

    /// <summary>A message for a failed request, with the key removed and the resilience exceptions explained.</summary>
    public string Describe(Exception e) => Redact(e switch
    {
        TimeoutRejectedException t => $"timed out after {t.Timeout.TotalSeconds:0.###} s",
        BrokenCircuitException => "the endpoint failed repeatedly, so requests to it are paused (circuit open); run again later: finished items are cached",
        RequestBudgetExceededException b => b.Message,
        HttpRequestException h => $"HTTP request failed: {h.Message}",
        _ => $"{e.GetType().Name}: {e.Message}",
    });

    internal static string SafeName(string name) => new(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray());

    public void Dispose() => Http.Dispose();

    private sealed class AttemptCountingHandler(RequestCounters counters) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            counters.AddAttempt();
            return base.SendAsync(request, ct);
        }
    }

    private sealed class BudgetHandler(RequestCounters counters, int? budget, SemaphoreSlim slots) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            if (counters.AddSent() is var n && budget is { } max && n > max)
            {
                counters.RemoveSent();
                throw new RequestBudgetExceededException(max);
            }
            await slots.WaitAsync(ct);
            try { return await base.SendAsync(request, ct); }
            finally { slots.Release(); }
        }
    }
}
