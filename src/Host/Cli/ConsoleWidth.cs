using Spectre.Console;

namespace BiasBench.Host.Cli;

/// <summary>
/// Spectre.Console assumes 80 columns when output is redirected and wraps every longer line (log lines, problems,
/// table cells) mid-word in a file or CI log. Piped output gets no wrapping (a width no line reaches); a terminal
/// keeps its real width.
/// </summary>
public static class ConsoleWidth
{
    /// <summary>The width used when there is no terminal: wide enough that nothing wraps, small enough for Spectre's layout arithmetic.</summary>
    public const int Unwrapped = 16_384;

    public static void Apply(IAnsiConsole console, bool? redirected = null)
    {
        if (redirected ?? Console.IsOutputRedirected) console.Profile.Width = Unwrapped;
    }
}
