using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using TorchSharp;

namespace BiasBench.Torch.Weights;

public enum TorchCheckpointFormat
{
    /// <summary>torch.save since PyTorch 1.6: a zip with &lt;folder&gt;/data.pkl and &lt;folder&gt;/data/&lt;key&gt; storages.</summary>
    Zip,
    /// <summary>torch.save with _use_new_zipfile_serialization=False: magic number, pickles, then raw storages.</summary>
    Legacy,
}

/// <summary>
/// A PyTorch checkpoint (<c>.pt</c>, <c>.pth</c>, <c>.bin</c>) read with the <see cref="RestrictedUnpickler"/>: only
/// tensors, storages, dtypes and containers are accepted, nothing in the file is executed. <see cref="Root"/> is the
/// saved object with every tensor materialised as a contiguous CPU <see cref="torch.Tensor"/> (views such as
/// transposes and slices are resolved through their storage, offset and strides). The checkpoint owns those tensors.
/// </summary>
public sealed class TorchCheckpoint : IDisposable
{
    private const int CopyChunk = 1 << 24;
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356"); // 0x1950a86a20f9469cfc6c
    private const long LegacyProtocolVersion = 1001;
    private readonly List<torch.Tensor> _owned;

    private TorchCheckpoint(string path, TorchCheckpointFormat format, object? root, List<torch.Tensor> owned)
    {
        Path = path; Format = format; Root = root; _owned = owned;
    }

    public string Path { get; }
    public TorchCheckpointFormat Format { get; }
    /// <summary>The unpickled object: <see cref="PickleDict"/>, lists, <see cref="PickleTuple"/>, scalars and tensors.</summary>
    public object? Root { get; }

    /// <summary>Reads a checkpoint in either format; refuses any global outside <see cref="TorchPickleAllowList"/>.</summary>
    public static TorchCheckpoint Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        Span<byte> head = stackalloc byte[4];
        using (var probe = File.OpenRead(path))
        {
            if (probe.ReadAtLeast(head, 4, throwOnEndOfStream: false) < 4)
                throw new InvalidDataException($"{path}: too short ({probe.Length} bytes) to be a PyTorch checkpoint.");
        }
        var isZip = head.SequenceEqual("PK\x03\x04"u8);
        try
        {
            return isZip ? LoadZip(path) : LoadLegacy(path);
        }
        catch (Exception e) when (e is InvalidDataException && !e.Message.Contains(path, StringComparison.Ordinal)
                                  || e is EndOfStreamException or FormatException or OverflowException or ArgumentException)
        {
            // Errors raised by the zip reader or the runtime on corrupt input: name the file.
            throw new InvalidDataException($"{path}: corrupt or truncated {(isZip ? "zip" : "legacy")} checkpoint: {e.Message}", e);
        }
    }

    /// <summary>
    /// Loads the tensors of a state dict: unwraps <c>{"state_dict": ...}</c>-style wrappers, flattens nested dicts to
    /// dotted names, drops non-tensor entries, and converts floating-point tensors to <paramref name="floatDType"/>
    /// when given. The caller owns (and disposes) the returned tensors.
    /// </summary>
    public static Dictionary<string, torch.Tensor> LoadStateDict(string path, torch.ScalarType? floatDType = null)
    {
        using var checkpoint = Load(path);
        var flat = FlattenTensors(UnwrapStateDict(checkpoint.Root));
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in flat)
        {
            // A fresh handle per entry: the checkpoint disposes its own, and tied weights may share one tensor.
            result[name] = floatDType is { } d && tensor.is_floating_point() && tensor.dtype != d ? tensor.to_type(d) : tensor.alias();
        }
        return result;
    }

    /// <summary>The keys under which training scripts commonly nest a model's state dict.</summary>
    public static readonly IReadOnlyList<string> DefaultWrapperKeys = ["state_dict", "model_state_dict", "model", "module"];

    /// <summary>
    /// Descends through wrapper dicts such as <c>{"state_dict": {...}, "epoch": 3}</c> (keys tried in order, see
    /// <see cref="DefaultWrapperKeys"/>) until it reaches a dict that is not a wrapper.
    /// </summary>
    public static object? UnwrapStateDict(object? root, IReadOnlyList<string>? wrapperKeys = null)
    {
        wrapperKeys ??= DefaultWrapperKeys;
        while (root is PickleDict dict)
        {
            var inner = wrapperKeys.Select(k => dict.TryGetValue(k, out var v) ? v : null).FirstOrDefault(v => v is PickleDict);
            if (inner is null) break;
            root = inner;
        }
        return root;
    }

    /// <summary>
    /// Every tensor under <paramref name="root"/> by dotted path (<c>{"a": {"b": t}}</c> -> <c>a.b</c>, lists by index).
    /// Non-tensor leaves (epochs, config strings) are skipped. The tensors are not copied.
    /// </summary>
    public static Dictionary<string, torch.Tensor> FlattenTensors(object? root, string separator = ".")
    {
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        void Visit(object? node, string prefix, int depth)
        {
            if (depth > 64) throw new InvalidDataException($"Nesting deeper than 64 levels at '{prefix}' (cyclic container?).");
            string Child(string key) => prefix.Length == 0 ? key : prefix + separator + key;
            switch (node)
            {
                case torch.Tensor t:
                    if (!result.TryAdd(prefix, t)) throw new InvalidDataException($"Two tensors flatten to the same name '{prefix}'.");
                    break;
                case PickleDict d:
                    foreach (var kv in d) Visit(kv.Value, Child(kv.Key is string s ? s : PickleFormat.Describe(kv.Key)), depth + 1);
                    break;
                case IReadOnlyList<object?> list:
                    for (var i = 0; i < list.Count; i++) Visit(list[i], Child(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), depth + 1);
                    break;
            }
        }
        Visit(root, "", 0);
        return result;
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }

    // ---------------------------------------------------------------- zip format

    private static TorchCheckpoint LoadZip(string path)
    {
        ZipArchive archive;
        try { archive = ZipFile.OpenRead(path); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: not a readable zip archive (truncated or corrupt checkpoint?): {e.Message}", e); }
        using (archive)
        {
            var pickleEntry = archive.Entries
                .Where(e => e.FullName == "data.pkl" || e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal))
                .OrderBy(e => e.FullName.Count(c => c == '/'))
                .FirstOrDefault();
            if (pickleEntry is null)
            {
                var hint = archive.GetEntry("constants.pkl") is not null || archive.Entries.Any(e => e.FullName.Contains("/code/"))
                    ? " It looks like a TorchScript archive (torch.jit.save), which is not supported." : "";
                throw new InvalidDataException($"{path}: zip archive has no data.pkl record, so it is not a torch.save checkpoint.{hint}");
            }
            var prefix = pickleEntry.FullName[..^"data.pkl".Length];
            if (archive.Entries.Any(e => e.FullName == prefix + "constants.pkl"))
                throw new InvalidDataException($"{path}: this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint.");

            var bigEndian = false;
            if (archive.GetEntry(prefix + "byteorder") is { } byteOrderEntry)
            {
                var order = System.Text.Encoding.ASCII.GetString(ReadEntry(path, byteOrderEntry));
                bigEndian = order switch
                {
                    "little" => false,
                    "big" => true,
                    _ => throw new InvalidDataException($"{path}: unknown byte order '{order}' in {byteOrderEntry.FullName}."),
                };
            }

            var storages = new Dictionary<string, TorchStorage>(StringComparer.Ordinal);
            var owned = new List<torch.Tensor>();
            var source = $"{path} (record {pickleEntry.FullName})";
            try
            {
                object? PersistentLoad(object? id)
                {
                    var (dtype, key, location, numel) = ParseStorageId(source, id, legacy: false, out _);
                    if (storages.TryGetValue(key, out var existing)) return new TorchStorageSlice(existing, 0, existing.ElementCount);
                    var entry = archive.GetEntry(prefix + "data/" + key)
                        ?? throw new InvalidDataException($"{path}: storage '{key}' is referenced by the pickle but the record {prefix}data/{key} is missing (truncated file?).");
                    var storage = new TorchStorage(key, dtype, numel, location);
                    var nbytes = checked(numel * TorchPickleAllowList.ElementSize(dtype));
                    if (entry.Length != nbytes)
                        throw new InvalidDataException($"{path}: record {entry.FullName} has {entry.Length} bytes but storage '{key}' needs {nbytes} ({numel} x {dtype}).");
                    using (var stream = OpenEntry(path, entry))
                        storage.Data = ReadStorage(path, stream, storage, bigEndian);
                    owned.Add(storage.Data);
                    storages[key] = storage;
                    return new TorchStorageSlice(storage, 0, numel);
                }

                var pickleBytes = ReadEntry(path, pickleEntry);
                var root = new RestrictedUnpickler(new MemoryStream(pickleBytes, writable: false), source, TorchPickleAllowList.Create(), PersistentLoad).Load();
                return Materialize(path, TorchCheckpointFormat.Zip, root, owned);
            }
            catch
            {
                foreach (var t in owned) t.Dispose();
                throw;
            }
        }
    }

    private static Stream OpenEntry(string path, ZipArchiveEntry entry)
    {
        try { return entry.Open(); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: cannot read record {entry.FullName} (corrupt archive?): {e.Message}", e); }
    }

    private static byte[] ReadEntry(string path, ZipArchiveEntry entry)
    {
        if (entry.Length > Array.MaxLength) throw new InvalidDataException($"{path}: record {entry.FullName} is too large ({entry.Length} bytes).");
        using var stream = OpenEntry(path, entry);
        var bytes = new byte[entry.Length];
        try
        {
            stream.ReadExactly(bytes);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new InvalidDataException($"{path}: record {entry.FullName} is truncated or corrupt: {e.Message}", e);
        }
        return bytes;
    }

    // ---------------------------------------------------------------- legacy format

    private static TorchCheckpoint LoadLegacy(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (file.Length > 262)
        {
            Span<byte> ustar = stackalloc byte[5];
            file.Position = 257;
            file.ReadExactly(ustar);
            file.Position = 0;
            if (ustar.SequenceEqual("ustar"u8))
                throw new NotSupportedException($"{path}: tar-based checkpoint from PyTorch < 0.4 is not supported; re-save it with a current PyTorch.");
        }

        var noGlobals = new PickleAllowList();
        var magic = new RestrictedUnpickler(file, $"{path} (magic number)", noGlobals).Load();
        if (magic is not BigInteger m || m != LegacyMagic)
            throw new InvalidDataException($"{path}: not a PyTorch checkpoint (no zip signature and no legacy magic number; found {PickleFormat.Describe(magic)}).");
        var protocol = new RestrictedUnpickler(file, $"{path} (protocol version)", noGlobals).Load();
        if (protocol is not long p || p != LegacyProtocolVersion)
            throw new InvalidDataException($"{path}: unsupported legacy checkpoint protocol version {PickleFormat.Describe(protocol)} (expected {LegacyProtocolVersion}).");
        var sysInfo = new RestrictedUnpickler(file, $"{path} (sys_info)", noGlobals).Load() as PickleDict
            ?? throw new InvalidDataException($"{path}: legacy checkpoint sys_info is not a dict.");
        var bigEndian = sysInfo.TryGetValue("little_endian", out var little) && little is false;

        var storages = new Dictionary<string, TorchStorage>(StringComparer.Ordinal);
        var owned = new List<torch.Tensor>();
        var source = $"{path} (main pickle)";
        try
        {
            object? PersistentLoad(object? id)
            {
                var (dtype, key, location, numel) = ParseStorageId(source, id, legacy: true, out var view);
                if (!storages.TryGetValue(key, out var storage))
                    storages[key] = storage = new TorchStorage(key, dtype, numel, location);
                if (view is null) return new TorchStorageSlice(storage, 0, storage.ElementCount);
                var (offset, size) = view.Value;
                if (offset < 0 || size < 0 || offset + size > storage.ElementCount)
                    throw new InvalidDataException($"{source}: storage view [{offset}, {offset + size}) exceeds storage '{key}' of {storage.ElementCount} elements.");
                return new TorchStorageSlice(storage, offset, size);
            }

            var root = new RestrictedUnpickler(file, source, TorchPickleAllowList.Create(), PersistentLoad).Load();
            var keys = new RestrictedUnpickler(file, $"{path} (storage keys)", noGlobals).Load() as List<object?>
                ?? throw new InvalidDataException($"{path}: legacy checkpoint storage-key list is missing or not a list.");
            Span<byte> countBytes = stackalloc byte[8];
            foreach (var keyObject in keys)
            {
                if (keyObject is not string key || !storages.TryGetValue(key, out var storage))
                    throw new InvalidDataException($"{path}: storage key {PickleFormat.Describe(keyObject)} in the key list is not used by the pickle.");
                if (file.ReadAtLeast(countBytes, 8, throwOnEndOfStream: false) < 8)
                    throw new InvalidDataException($"{path}: truncated before the data of storage '{key}'.");
                var count = bigEndian ? BinaryPrimitives.ReadInt64BigEndian(countBytes) : BinaryPrimitives.ReadInt64LittleEndian(countBytes);
                if (count != storage.ElementCount)
                    throw new InvalidDataException($"{path}: storage '{key}' has {count} elements on disk but the pickle says {storage.ElementCount}.");
                storage.Data = ReadStorage(path, file, storage, bigEndian);
                owned.Add(storage.Data);
            }
            var unread = storages.Values.Where(s => s.Data is null).Select(s => s.Key).ToList();
            if (unread.Count > 0)
                throw new InvalidDataException($"{path}: storages [{string.Join(", ", unread)}] are used by the pickle but have no data.");
            return Materialize(path, TorchCheckpointFormat.Legacy, root, owned);
        }
        catch
        {
            foreach (var t in owned) t.Dispose();
            throw;
        }
    }

    // ---------------------------------------------------------------- shared

    /// <summary>Parses ('storage', storage_type, key, location, numel[, view_metadata]).</summary>
    private static (torch.ScalarType DType, string Key, string Location, long Numel) ParseStorageId(
        string source, object? id, bool legacy, out (long Offset, long Size)? view)
    {
        view = null;
        if (id is not PickleTuple t || t.Count < 5 || Text(t[0]) != "storage")
            throw new InvalidDataException($"{source}: unsupported persistent id {PickleFormat.Describe(id)} (expected a 'storage' tuple).");
        var dtype = t[1] switch
        {
            PickleGlobal g when TorchPickleAllowList.StorageTypes.TryGetValue(g.Name, out var d) => d,
            PickleGlobal g when g.Module == "torch" && TorchPickleAllowList.DTypes.TryGetValue(g.Name, out var d) => d,
            var other => throw new InvalidDataException($"{source}: unsupported storage type {PickleFormat.Describe(other)}."),
        };
        var key = Text(t[2]) ?? (t[2] is long lk ? lk.ToString(System.Globalization.CultureInfo.InvariantCulture) : null)
            ?? throw new InvalidDataException($"{source}: storage key {PickleFormat.Describe(t[2])} is not a string.");
        var location = Text(t[3]) ?? "cpu";
        if (t[4] is not long numel || numel < 0)
            throw new InvalidDataException($"{source}: storage '{key}' has invalid element count {PickleFormat.Describe(t[4])}.");
        if (legacy && t.Count > 5 && t[5] is PickleTuple { Count: 3 } v)
        {
            if (v[1] is not long offset || v[2] is not long size)
                throw new InvalidDataException($"{source}: storage '{key}' has malformed view metadata {v}.");
            view = (offset, size);
        }
        return (dtype, key, location, numel);
    }

    private static string? Text(object? o) => o switch
    {
        string s => s,
        byte[] b => System.Text.Encoding.ASCII.GetString(b), // Python 2 pickles loaded with encoding='bytes'
        _ => null,
    };

    /// <summary>Reads a storage's raw bytes into a new 1-D tensor, swapping byte order when the file is big-endian.</summary>
    private static torch.Tensor ReadStorage(string path, Stream stream, TorchStorage storage, bool bigEndian)
    {
        var elementSize = TorchPickleAllowList.ElementSize(storage.DType);
        var nbytes = checked(storage.ElementCount * elementSize);
        // Complex numbers swap each of their two components.
        var swapUnit = storage.DType is torch.ScalarType.ComplexFloat32 or torch.ScalarType.ComplexFloat64 ? elementSize / 2 : elementSize;
        // Refuse sizes the file cannot hold before allocating them (a corrupt count must not exhaust memory).
        if (stream.CanSeek && nbytes > stream.Length - stream.Position)
            throw new InvalidDataException($"{path}: storage '{storage.Key}' needs {nbytes} bytes but only {stream.Length - stream.Position} remain (truncated file?).");
        var tensor = torch.empty([storage.ElementCount], storage.DType);
        try
        {
            if (nbytes == 0) return tensor;
            // Copied through a bounded managed buffer (a multiple of every element size) so multi-GB storages
            // stream without one huge array; small storages take a single chunk.
            var buffer = new byte[Math.Min(CopyChunk, nbytes)];
            for (long done = 0; done < nbytes;)
            {
                var chunk = (int)Math.Min(buffer.Length, nbytes - done);
                var span = buffer.AsSpan(0, chunk);
                var read = stream.ReadAtLeast(span, chunk, throwOnEndOfStream: false);
                if (read < chunk)
                    throw new InvalidDataException($"{path}: storage '{storage.Key}' is truncated: expected {nbytes} bytes, found {done + read}.");
                if (bigEndian && swapUnit > 1) SwapBytes(span, swapUnit);
                if (chunk == nbytes)
                    tensor.bytes = span;
                else
                {
                    using var part = torch.empty([chunk / elementSize], storage.DType);
                    part.bytes = span;
                    using var target = tensor.narrow(0, done / elementSize, chunk / elementSize);
                    target.copy_(part);
                }
                done += chunk;
            }
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    private static void SwapBytes(Span<byte> data, int unit)
    {
        for (var i = 0; i + unit <= data.Length; i += unit) data.Slice(i, unit).Reverse();
    }

    /// <summary>Replaces every <see cref="TensorDescriptor"/> in the object graph by a tensor built from its storage.</summary>
    private static TorchCheckpoint Materialize(string path, TorchCheckpointFormat format, object? root, List<torch.Tensor> storageTensors)
    {
        var tensors = new List<torch.Tensor>();
        try
        {
            var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
            object? Resolve(object? node, string name)
            {
                switch (node)
                {
                    case TensorDescriptor d:
                        var t = BuildTensor(path, d, name);
                        tensors.Add(t);
                        return t;
                    case PickleDict dict when visited.Add(dict):
                        foreach (var key in dict.Keys.ToList())
                            dict[key] = Resolve(dict[key], Join(name, key is string s ? s : PickleFormat.Describe(key)));
                        if (dict.Attributes is { } attrs) Resolve(attrs, Join(name, "__dict__"));
                        return dict;
                    case List<object?> list when visited.Add(list):
                        for (var i = 0; i < list.Count; i++) list[i] = Resolve(list[i], Join(name, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                        return list;
                    case PickleTuple tuple when visited.Add(tuple):
                        for (var i = 0; i < tuple.Items.Length; i++) tuple.Items[i] = Resolve(tuple.Items[i], Join(name, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                        return tuple;
                    case TorchStorageSlice:
                        throw new NotSupportedException($"{path}: '{name}' is a bare storage; only tensors are supported.");
                    default:
                        return node;
                }
            }
            var resolved = Resolve(root, "");
            // Storage handles are no longer needed: each tensor keeps its own reference to the memory it uses.
            foreach (var s in storageTensors) s.Dispose();
            storageTensors.Clear();
            return new TorchCheckpoint(path, format, resolved, tensors);
        }
        catch
        {
            foreach (var t in tensors) t.Dispose();
            throw;
        }

        static string Join(string prefix, string key) => prefix.Length == 0 ? key : prefix + "." + key;
    }

    private static torch.Tensor BuildTensor(string path, TensorDescriptor d, string name)
    {
        var slice = d.Storage;
        var storage = slice.Storage.Data ?? throw new InvalidDataException($"{path}: tensor '{name}' uses storage '{slice.Storage.Key}', which has no data.");
        if (d.Shape.Any(s => s < 0) || d.Stride.Any(s => s < 0) || d.StorageOffset < 0)
            throw new InvalidDataException($"{path}: tensor '{name}' has negative size, stride or offset ({d}).");
        var numel = d.Shape.Aggregate(1L, (a, b) => checked(a * b));
        if (numel > 0)
        {
            // The last element the view touches must lie inside the (possibly sliced) storage.
            var last = d.StorageOffset + d.Shape.Zip(d.Stride).Sum(p => checked((p.First - 1) * p.Second));
            if (last >= slice.ElementCount)
                throw new InvalidDataException($"{path}: tensor '{name}' ({d}) reaches element {last} but its storage '{slice.Storage.Key}' has {slice.ElementCount} elements (corrupt file?).");
        }
        using var view = storage.as_strided(d.Shape, d.Stride, slice.ElementOffset + d.StorageOffset);
        // Contiguous tensors are what downstream code (and .bytes / data<T>()) expect; views are copied once here.
        return view.is_contiguous() ? view.alias() : view.contiguous();
    }
}
