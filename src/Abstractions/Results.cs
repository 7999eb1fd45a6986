namespace BiasBench.Abstractions;

/// <summary>
/// The outcome for one item of a batch: a value or an error message. One bad image must not stop a run,
/// so components report per-item failures here instead of throwing.
/// </summary>
public readonly record struct ItemResult<T>
{
    private ItemResult(T? value, string? error) { Value = value; Error = error; }

    public T? Value { get; }
    public string? Error { get; }
    public bool IsSuccess => Error is null;

    /// <summary>A remark on a successful item the user should see (e.g. "prompt truncated to 35 tokens").</summary>
    public string? Note { get; init; }

    /// <summary>
    /// A failure where the service declined the request (content policy, safety filter) rather than broke: a refusal
    /// is itself a result (refusal rates per prompt condition are a bias signal), reported apart from errors.
    /// </summary>
    public bool IsRefusal { get; init; }

    public static ItemResult<T> Success(T value) => new(value, null);
    public static ItemResult<T> Success(T value, string? note) => new(value, null) { Note = note };
    public static ItemResult<T> Failure(string error) => new(default, string.IsNullOrWhiteSpace(error) ? "unknown error" : error);
    public static ItemResult<T> Refusal(string reason) => Failure(reason) with { IsRefusal = true };

    /// <summary>success, refusal or error: the outcome column of stage tables.</summary>
    public string Outcome => IsSuccess ? "success" : IsRefusal ? "refusal" : "error";
}
