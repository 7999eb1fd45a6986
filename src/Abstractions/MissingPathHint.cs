namespace BiasBench.Abstractions;

/// <summary>
/// What to tell the user when the input file or folder an options property names does not exist, e.g. where a data set
/// is published and which of its folders the option expects. The host adds it to its "does not exist" message when it
/// validates the config, before any work starts.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MissingPathHintAttribute(string hint) : Attribute
{
    public string Hint { get; } = hint;
}
