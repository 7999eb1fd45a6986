namespace BiasBench.Statistics;

internal static class Validation
{
    public static void NotNull(object? value, string name)
    {
        if (value is null) throw new ArgumentNullException(name);
    }

    /// <summary>Rejects NaN/infinity with the offending index so bad rows can be found.</summary>
    public static void Finite(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]))
                throw new DegenerateDataException($"'{name}' contains a non-finite value ({values[i]}) at index {i}.", new[] { name });
    }

    public static void SameLength(int expected, int actual, string name)
    {
        if (expected != actual)
            throw new ArgumentException($"'{name}' has {actual} values but {expected} were expected (all inputs must be aligned).", name);
    }

    public static void MinCount(int n, int minimum, string what)
    {
        if (n < minimum) throw new DegenerateDataException($"{what} needs at least {minimum} observations, got {n}.");
    }
}
