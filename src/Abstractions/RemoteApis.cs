namespace BiasBench.Abstractions;

/// <summary>
/// Options of a component that calls a remote, usually paid, API (an image-generation service, a VLM). The host uses
/// this to replace the endpoint from the command line (<c>biasbench run --endpoint URL</c>), to say before any work
/// which API keys are missing, and to print how many requests a config would send (<c>biasbench run --dry-run</c>).
/// The key itself never appears in options: <see cref="ApiKeyEnv"/> names the environment variable that holds it.
/// </summary>
public interface IRemoteApiOptions
{
    /// <summary>Base URL of the API (e.g. https://api.openai.com/v1).</summary>
    string? Endpoint { get; set; }

    /// <summary>Name of the environment variable that holds the API key; null when the server needs none.</summary>
    string? ApiKeyEnv { get; }

    /// <summary>Most requests the component may send in one run (responses already cached are free); null = no limit.</summary>
    int? MaxRequests { get; }

    /// <summary>Requests one item costs (one image generated, one image judged), before retries and the cache.</summary>
    int RequestsPerItem();
}
