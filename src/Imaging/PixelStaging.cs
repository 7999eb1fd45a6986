using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using BiasBench.Torch.Backend;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Imaging;

/// <summary>
/// Reused host buffers that preprocessed images are written into directly, batch after batch, and their upload to the
/// model's device: no float array per image, no batch array to gather them in, no copy into a tensor. When the device
/// is a GPU the buffers are page-locked (pinned), so the upload is an asynchronous copy and the host goes on preparing
/// the next batch. A buffer is leased for one batch (write the slots, upload, run the model, read the results back)
/// and then returned; the pool grows to the number of batches in flight at once.
/// </summary>
public sealed class PixelStaging : IDisposable
{
    private readonly ConcurrentBag<Tensor> _free = [];
    private readonly List<Tensor> _all = [];
    private bool _disposed;

    public PixelStaging(int capacity, int size, Device device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        TorchBackend.EnsureInitialized();
        Capacity = capacity; Size = size; Device = device;
    }

    /// <summary>Images per buffer.</summary>
    public int Capacity { get; }
    public int Size { get; }
    public Device Device { get; }
    public bool Pinned => Device.type == DeviceType.CUDA;
    public int SlotLength => 3 * Size * Size;

    /// <summary>A buffer for one batch; dispose it once the batch's results have been read back.</summary>
    public Lease Rent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_free.TryTake(out var buffer)) return new Lease(this, buffer);
        buffer = empty([Capacity, 3, Size, Size], ScalarType.Float32, CPU);
        if (Pinned)
        {
            var pinned = buffer.pin_memory();
            buffer.Dispose();
            buffer = pinned;
        }
        buffer.DetachFromDisposeScope(); // the pool owns it, not the caller's dispose scope
        lock (_all) _all.Add(buffer);
        return new Lease(this, buffer);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_all) foreach (var b in _all) b.Dispose();
    }

    /// <summary>One host buffer of <see cref="Capacity"/> image slots, leased for one batch.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly PixelStaging _owner;
        private Tensor? _buffer;

        internal Lease(PixelStaging owner, Tensor buffer) { _owner = owner; _buffer = buffer; }

        public int Capacity => _owner.Capacity;

        private Tensor Buffer => _buffer ?? throw new ObjectDisposedException(nameof(Lease));

        /// <summary>Image <paramref name="index"/>'s 3 x Size x Size floats (CHW), to write in place. Thread-safe.</summary>
        public Span<float> Slot(int index)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _owner.Capacity);
            return MemoryMarshal.Cast<byte, float>(Buffer.bytes).Slice(index * _owner.SlotLength, _owner.SlotLength);
        }

        /// <summary>Moves slot <paramref name="from"/> to slot <paramref name="to"/> (closing the gap a failed image left).</summary>
        public void Move(int from, int to)
        {
            if (from != to) Slot(from).CopyTo(Slot(to));
        }

        /// <summary>
        /// The first <paramref name="count"/> images as [count, 3, Size, Size] of <paramref name="dtype"/> on the device.
        /// On the CPU in float32 this is a view of the buffer itself (nothing is copied).
        /// </summary>
        public Tensor Upload(int count, ScalarType dtype)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _owner.Capacity);
            using var head = Buffer.narrow(0, 0, count);
            return head.to(dtype, _owner.Device, non_blocking: _owner.Pinned);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
            {
                if (_owner._disposed) return;
                _owner._free.Add(buffer);
            }
        }
    }
}
