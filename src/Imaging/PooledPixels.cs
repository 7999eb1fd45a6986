using System.Collections.Concurrent;
using BiasBench.Abstractions;

namespace BiasBench.Imaging;

/// <summary>
/// Reused byte arrays of exact lengths (an <see cref="RgbImage"/> needs its array to be exactly width x height x 3). A
/// scoring run decodes images of a few sizes over and over: without reuse every 1024 px image is a fresh 3 MB array on
/// the large-object heap, and the collector runs a full (gen 2) collection every few dozen images.
/// </summary>
internal static class ExactSizeBuffers
{
    // At most this much is kept for reuse (a few arrays per core and size); more is left to the collector.
    private static readonly long MaxRetainedBytes = Math.Min(1L << 30, 64L * 1024 * 1024 * Math.Max(4, Environment.ProcessorCount));
    private static readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> Free = new();
    private static long _retained;

    public static byte[] Rent(int length) =>
        Free.TryGetValue(length, out var bag) && bag.TryTake(out var array)
            ? Release(array)
            : GC.AllocateUninitializedArray<byte>(length);

    public static void Return(byte[] array)
    {
        if (Interlocked.Add(ref _retained, array.Length) > MaxRetainedBytes)
        {
            Interlocked.Add(ref _retained, -array.Length);
            return;
        }
        Free.GetOrAdd(array.Length, _ => []).Add(array);
    }

    private static byte[] Release(byte[] array)
    {
        Interlocked.Add(ref _retained, -array.Length);
        return array;
    }
}

/// <summary>
/// A decoded image whose pixel array goes back to a pool when disposed: for pipelines that turn each image into model
/// input at once and keep nothing. Do not use <see cref="Image"/> after disposing.
/// </summary>
public sealed class PooledRgbImage : IDisposable
{
    private byte[]? _pixels;

    internal PooledRgbImage(int width, int height, byte[] pixels)
    {
        _pixels = pixels;
        Image = new RgbImage(width, height, pixels);
    }

    public RgbImage Image { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _pixels, null) is { } pixels) ExactSizeBuffers.Return(pixels);
    }
}
