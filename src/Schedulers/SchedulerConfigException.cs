namespace BiasBench.Schedulers;

/// <summary>
/// A scheduler config that cannot be used: malformed JSON, a field of the wrong type, or a value this library does not
/// implement. The message names the config (file path or description) and the field.
/// </summary>
public sealed class SchedulerConfigException : FormatException
{
    public SchedulerConfigException(string source, string? field, string message, Exception? inner = null)
        : base(field is null ? $"{source}: {message}" : $"{source}: {field}: {message}", inner)
    {
        ConfigSource = source;
        Field = field;
    }

    /// <summary>The config file path (or a description when it did not come from a file).</summary>
    public string ConfigSource { get; }

    /// <summary>The offending field, or null when the problem is the file as a whole.</summary>
    public string? Field { get; }
}
