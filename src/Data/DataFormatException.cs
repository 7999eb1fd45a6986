namespace BiasBench.Data;

/// <summary>
/// A malformed input file. The message starts with <c>file:line:column</c> (both 1-based; column counts characters
/// from the start of the line) so editors and CI logs can jump to the spot.
/// </summary>
public sealed class DataFormatException : FormatException
{
    public DataFormatException(string file, int line, int column, string message, Exception? inner = null)
        : base($"{file}:{line}:{column}: {message}", inner)
    {
        File = file;
        Line = line;
        Column = column;
        Detail = message;
    }

    public string File { get; }
    public int Line { get; }
    public int Column { get; }
    public string Detail { get; }
}
