namespace BiasBench.Hosted;

/// <summary>
/// An API key read from the environment. Its value is only ever put into an Authorization (or x-goog-api-key)
/// header; everything the client layer writes or throws passes through <see cref="Redact"/> first, so a server that
/// echoes the key back still cannot make it reach a file, a log line or an error message.
/// </summary>
public sealed class ApiKey
{
    private ApiKey(string variable, string value) { Variable = variable; Value = value; }

    /// <summary>Name of the environment variable the key came from (safe to show).</summary>
    public string Variable { get; }

    internal string Value { get; }

    public override string ToString() => $"${Variable} (***)";

    /// <summary>The key named by <paramref name="variable"/>; null when no variable is named; throws with a clear message when it is not set.</summary>
    public static ApiKey? FromEnvironment(string? variable, string component, Func<string, string?>? environment = null)
    {
        if (string.IsNullOrWhiteSpace(variable)) return null;
        var value = (environment ?? Environment.GetEnvironmentVariable)(variable);
        if (string.IsNullOrEmpty(value))
            throw new InvalidOperationException($"{component} needs an API key in the environment variable {variable}, which is not set " +
                                                "(export it, or point --endpoint at a server that needs no key and clear api_key_env).");
        return new ApiKey(variable, value.Trim());
    }

    /// <summary>Replaces every occurrence of the key in <paramref name="text"/> by ***.</summary>
    public string Redact(string text) =>
        Value.Length == 0 || string.IsNullOrEmpty(text) ? text : text.Replace(Value, "***", StringComparison.Ordinal);

    public static string Redact(ApiKey? key, string text) => key is null ? text : key.Redact(text);
}
