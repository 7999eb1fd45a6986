using System.Text;

namespace BiasBench.Data;

/// <summary>One reason rows were dropped: which table and column, how many rows, and the first few ids.</summary>
public sealed record DropEntry(string Table, string Column, string Reason, int Count, IReadOnlyList<string> FirstIds);

/// <summary>
/// An explicit record of rows left out by <see cref="TableJoin"/> or <see cref="MissingValues"/>, so reports can say
/// what was dropped and why instead of silently shrinking the data.
/// </summary>
public sealed class DropReport
{
    /// <summary>How many ids each entry keeps for display.</summary>
    public const int MaxIds = 10;

    private readonly List<DropEntry> _entries = [];

    public IReadOnlyList<DropEntry> Entries => _entries;

    /// <summary>Rows of the input table before and after (set by <see cref="MissingValues.Apply"/> and joins: left table rows / result rows).</summary>
    public int? RowsBefore { get; set; }
    public int? RowsAfter { get; set; }

    /// <summary>Rows removed in total (a row missing in two columns counts once here, once per column in the entries).</summary>
    public int? RowsDropped => RowsBefore - RowsAfter;

    public bool IsEmpty => _entries.All(e => e.Count == 0);

    public void Add(DropEntry entry) => _entries.Add(entry ?? throw new ArgumentNullException(nameof(entry)));

    public void Add(string table, string column, string reason, int count, IEnumerable<string> ids) =>
        _entries.Add(new DropEntry(table, column, reason, count, ids.Take(MaxIds).ToArray()));

    /// <summary>One line per entry with a non-zero count, e.g. for table captions and logs.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        foreach (var e in _entries.Where(e => e.Count > 0))
        {
            if (sb.Length > 0) sb.Append("; ");
            sb.Append(e.Count).Append(" row").Append(e.Count == 1 ? "" : "s").Append(" of '").Append(e.Table).Append("' dropped (")
              .Append(e.Reason).Append(", column '").Append(e.Column).Append("')");
            if (e.FirstIds.Count > 0)
                sb.Append(": ").Append(string.Join(", ", e.FirstIds)).Append(e.Count > e.FirstIds.Count ? ", ..." : "");
        }
        return sb.Length == 0 ? "no rows dropped" : sb.ToString();
    }

    public override string ToString() => Describe();
}
