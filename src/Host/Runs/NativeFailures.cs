using System.Runtime.InteropServices;

namespace BiasBench.Host.Runs;

/// <summary>
/// libtorch reports its errors as <see cref="ExternalException"/>. Most belong to one item (a shape it cannot take)
/// and stay per-item failures; running out of (GPU) memory or a broken CUDA context does not, and would fail every
/// remaining item the same way, so it stops the stage with a message a user can act on.
/// </summary>
internal static class NativeFailures
{
    private static readonly string[] ResourceMarkers =
        ["out of memory", "CUDA error", "CUBLAS_STATUS", "CUDNN_STATUS", "cuDNN error", "NCCL error", "HIP error"];

    public static bool IsResourceExhaustion(ExternalException e) =>
        ResourceMarkers.Any(m => e.Message.Contains(m, StringComparison.OrdinalIgnoreCase));

    public static bool IsOutOfMemory(Exception e) => e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase);

    /// <summary>The stage-level error: what failed, on how big a batch, that finished items are kept, and what to try.</summary>
    public static StageFailedException StageError(string stageId, string component, int batchSize, ExternalException e)
    {
        var first = FirstLine(e.Message);
        var smaller = Math.Max(1, batchSize / 2);
        var advice = batchSize > 1
            ? $"Re-run the same command with a smaller batch: add 'batch_size: {smaller}' to stage '{stageId}' (or use --device cpu)."
            : $"Even one item does not fit: use a smaller model or precision, free the GPU, or use --device cpu.";
        var what = IsOutOfMemory(e) ? "ran out of memory" : "failed in libtorch/CUDA";
        return new StageFailedException(stageId,
            $"{component} {what} on a batch of {batchSize} item(s): {first} Items finished before this batch are cached. {advice}", e);
    }

    private static string FirstLine(string message)
    {
        var line = message.Split('\n', 2)[0].Trim();
        return line.EndsWith('.') ? line : line + ".";
    }
}
