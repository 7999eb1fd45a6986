namespace BiasBench.Statistics;

/// <summary>
/// Thrown when a statistic is undefined for the given data (constant column, too few observations,
/// perfect collinearity, separation, all-equal pairs...). The message says what is degenerate and where;
/// <see cref="OffendingColumns"/> names the columns involved when that is known.
/// </summary>
public sealed class DegenerateDataException : ArgumentException
{
    public DegenerateDataException(string message, IReadOnlyList<string>? offendingColumns = null)
        : base(message)
    {
        OffendingColumns = offendingColumns ?? Array.Empty<string>();
    }

    public IReadOnlyList<string> OffendingColumns { get; }
}
