using System.IO.MemoryMappedFiles;
using System.Text.Json;
using TorchSharp;

namespace BiasBench.Torch.Weights;

/// <summary>One tensor's place in a safetensors file.</summary>
public sealed record SafeTensorEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads the safetensors format (8-byte little-endian header length, JSON header, raw little-endian data),
/// memory-mapped so multi-GB files are never read whole. Validates every offset against the file size.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly long _dataStart;

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long dataStart,
        Dictionary<string, SafeTensorEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path; _map = map; _view = view; _dataStart = dataStart; Entries = entries; Metadata = metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafeTensorsFile Open(string path)
    {
        // The size of the file itself: FileInfo.Length of a symlink (the Hugging Face cache's snapshots) is the link's own size.
        var info = new FileInfo(path);
        var length = (info.LinkTarget is null ? info : info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info).Length;
        if (length < 8) throw new InvalidDataException($"{path}: too short for a safetensors file ({length} bytes).");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        try
        {
            var headerLength = view.ReadInt64(0);
            if (headerLength <= 0 || headerLength > length - 8 || headerLength > 100_000_000)
                throw new InvalidDataException($"{path}: invalid safetensors header length {headerLength} (file has {length} bytes).");
            var header = new byte[headerLength];
            view.ReadArray(8, header, 0, header.Length);
            var dataStart = 8 + headerLength;
            var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>();
            using var doc = JsonDocument.Parse(header);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    foreach (var m in prop.Value.EnumerateObject()) metadata[m.Name] = m.Value.ToString();
                    continue;
                }
                var dtype = prop.Value.GetProperty("dtype").GetString()
                    ?? throw new InvalidDataException($"{path}: tensor '{prop.Name}' has a null dtype.");
                var shape = prop.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var offsets = prop.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                if (offsets.Length != 2 || shape.Any(d => d < 0))
                    throw new InvalidDataException($"{path}: tensor '{prop.Name}' needs two data_offsets and a non-negative shape, got offsets [{string.Join(", ", offsets)}], shape [{string.Join(", ", shape)}].");
                var entry = new SafeTensorEntry(prop.Name, dtype, shape, offsets[0], offsets[1]);
                var expected = checked(entry.ElementCount * DTypeSize(dtype, path, prop.Name));
                if (entry.Begin < 0 || entry.End < entry.Begin || dataStart + entry.End > length || entry.ByteLength != expected)
                    throw new InvalidDataException($"{path}: tensor '{prop.Name}' has offsets [{string.Join(", ", offsets)}] inconsistent with dtype {dtype}, shape [{string.Join(", ", shape)}] and file size {length}.");
                entries[prop.Name] = entry;
            }
            return new SafeTensorsFile(path, map, view, dataStart, entries, metadata);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            view.Dispose(); map.Dispose();
            throw new InvalidDataException($"{path}: malformed safetensors header: {e.Message}", e);
        }
        catch
        {
            view.Dispose(); map.Dispose();
            throw;
        }
    }

    /// <summary>Loads a tensor, converted to <paramref name="dtype"/> when given (e.g. fp16 weights -> fp32).</summary>
    public torch.Tensor Load(string name, torch.ScalarType? dtype = null)
    {
        if (!Entries.TryGetValue(name, out var e))
            throw new KeyNotFoundException($"{Path}: no tensor named '{name}'.");
        var stored = ToScalarType(e.DType, name);
        var t = torch.empty(e.Shape, stored);
        if (e.ByteLength > 0)
        {
            unsafe
            {
                byte* basePtr = null;
                _view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
                try
                {
                    if (e.ByteLength > int.MaxValue)
                        throw new NotSupportedException($"{Path}: tensor '{name}' is larger than 2 GiB; split it across files.");
                    var src = basePtr + _view.PointerOffset + _dataStart + e.Begin;
                    t.bytes = new Span<byte>(src, (int)e.ByteLength);
                }
                finally { _view.SafeMemoryMappedViewHandle.ReleasePointer(); }
            }
        }
        if (dtype is { } d && d != stored)
        {
            var converted = t.to_type(d);
            t.Dispose();
            return converted;
        }
        return t;
    }

    /// <summary>Loads every tensor (converted to <paramref name="dtype"/> for floating-point tensors when given).</summary>
    public Dictionary<string, torch.Tensor> LoadAll(torch.ScalarType? floatDType = null)
    {
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var name in Entries.Keys)
        {
            var stored = ToScalarType(Entries[name].DType, name);
            result[name] = Load(name, floatDType is not null && torch.is_floating_point(torch.empty(0, stored)) ? floatDType : null);
        }
        return result;
    }

    /// <summary>
    /// Writes tensors in the safetensors format (names sorted, data 8-byte aligned via header padding), e.g. to
    /// convert a PyTorch checkpoint once into a format that needs no unpickling.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, torch.Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        var contiguous = new List<torch.Tensor>();
        try
        {
            foreach (var name in names)
            {
                var t = tensors[name].cpu().contiguous();
                contiguous.Add(t);
                var nbytes = t.NumberOfElements * t.ElementSize;
                header[name] = new { dtype = ToSafeTensorsDType(t.dtype, name), shape = t.shape, data_offsets = new[] { offset, offset + nbytes } };
                offset += nbytes;
            }
            var json = JsonSerializer.SerializeToUtf8Bytes(header);
            var padded = (json.Length + 7) / 8 * 8;
            using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            Span<byte> lengthBytes = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(lengthBytes, padded);
            stream.Write(lengthBytes);
            stream.Write(json);
            for (var i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var t in contiguous)
                if (t.NumberOfElements > 0) stream.Write(t.bytes);
        }
        finally
        {
            foreach (var t in contiguous) t.Dispose();
        }
    }

    public static string ToSafeTensorsDType(torch.ScalarType dtype, string tensorName = "") => dtype switch
    {
        torch.ScalarType.Float64 => "F64",
        torch.ScalarType.Float32 => "F32",
        torch.ScalarType.Float16 => "F16",
        torch.ScalarType.BFloat16 => "BF16",
        torch.ScalarType.Int64 => "I64",
        torch.ScalarType.Int32 => "I32",
        torch.ScalarType.Int16 => "I16",
        torch.ScalarType.Int8 => "I8",
        torch.ScalarType.Byte => "U8",
        torch.ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"Tensor '{tensorName}': dtype {dtype} cannot be stored in safetensors."),
    };

    public static torch.ScalarType ToScalarType(string dtype, string tensorName = "") => dtype switch
    {
        "F64" => torch.ScalarType.Float64,
        "F32" => torch.ScalarType.Float32,
        "F16" => torch.ScalarType.Float16,
        "BF16" => torch.ScalarType.BFloat16,
        "I64" => torch.ScalarType.Int64,
        "I32" => torch.ScalarType.Int32,
        "I16" => torch.ScalarType.Int16,
        "I8" => torch.ScalarType.Int8,
        "U8" => torch.ScalarType.Byte,
        "BOOL" => torch.ScalarType.Bool,
        _ => throw new NotSupportedException($"Tensor '{tensorName}': safetensors dtype '{dtype}' is not supported."),
    };

    private static long DTypeSize(string dtype, string path, string name) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => throw new InvalidDataException($"{path}: tensor '{name}' has unknown dtype '{dtype}'."),
    };

    public void Dispose()
    {
        _view.Dispose();
        _map.Dispose();
    }
}
