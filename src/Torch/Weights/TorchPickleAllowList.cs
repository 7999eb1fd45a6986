using TorchSharp;

namespace BiasBench.Torch.Weights;

/// <summary>A storage named by a checkpoint's persistent id ("storage", type, key, location, numel).</summary>
public sealed class TorchStorage
{
    internal TorchStorage(string key, torch.ScalarType dtype, long elementCount, string location)
    {
        Key = key; DType = dtype; ElementCount = elementCount; Location = location;
    }

    public string Key { get; }
    public torch.ScalarType DType { get; }
    public long ElementCount { get; }
    /// <summary>Where the storage lived when saved ("cpu", "cuda:0"); everything is loaded onto the CPU.</summary>
    public string Location { get; }
    /// <summary>The storage's elements as a 1-D tensor once read.</summary>
    internal torch.Tensor? Data { get; set; }
}

/// <summary>A window of a storage: the whole storage, or a legacy-format storage view (offset and length in elements).</summary>
public sealed record TorchStorageSlice(TorchStorage Storage, long ElementOffset, long ElementCount);

/// <summary>
/// A tensor as pickled by torch.save, before its data are materialised: a strided view of a storage.
/// </summary>
public sealed class TensorDescriptor : IPickleBuildable
{
    internal TensorDescriptor(TorchStorageSlice storage, long storageOffset, long[] shape, long[] stride, bool requiresGrad, bool isParameter)
    {
        Storage = storage; StorageOffset = storageOffset; Shape = shape; Stride = stride; RequiresGrad = requiresGrad; IsParameter = isParameter;
    }

    public TorchStorageSlice Storage { get; }
    /// <summary>Offset in elements from the start of <see cref="Storage"/>.</summary>
    public long StorageOffset { get; }
    public long[] Shape { get; }
    public long[] Stride { get; }
    public bool RequiresGrad { get; }
    public bool IsParameter { get; }
    public torch.ScalarType DType => Storage.Storage.DType;

    internal TensorDescriptor AsParameter(bool requiresGrad) => new(Storage, StorageOffset, Shape, Stride, requiresGrad, true);

    // Tensor subclasses carry Python attributes as BUILD state; plain tensors and parameters have none we need.
    void IPickleBuildable.Build(object? state, RestrictedUnpickler unpickler)
    {
        if (state is null or PickleDict { Count: 0 } or PickleTuple { Count: 0 }) return;
        if (state is PickleTuple t && t.All(x => x is null or PickleDict { Count: 0 })) return;
        throw unpickler.BuildError($"tensor with Python attributes {PickleFormat.Describe(state)} is not supported");
    }

    public override string ToString() =>
        $"tensor(dtype={DType}, shape=[{string.Join(", ", Shape)}], stride=[{string.Join(", ", Stride)}], storage='{Storage.Storage.Key}'+{StorageOffset})";
}

/// <summary>
/// The globals torch.save writes for tensors and state dicts, with C# constructors standing in for the Python
/// functions. Anything else (os.system, builtins.eval, subprocess.*, arbitrary classes) is refused.
/// </summary>
public static class TorchPickleAllowList
{
    /// <summary>Storage class names (as in <c>torch.FloatStorage</c>) and the dtype of their elements.</summary>
    public static IReadOnlyDictionary<string, torch.ScalarType> StorageTypes { get; } = new Dictionary<string, torch.ScalarType>
    {
        ["DoubleStorage"] = torch.ScalarType.Float64,
        ["FloatStorage"] = torch.ScalarType.Float32,
        ["HalfStorage"] = torch.ScalarType.Float16,
        ["BFloat16Storage"] = torch.ScalarType.BFloat16,
        ["LongStorage"] = torch.ScalarType.Int64,
        ["IntStorage"] = torch.ScalarType.Int32,
        ["ShortStorage"] = torch.ScalarType.Int16,
        ["CharStorage"] = torch.ScalarType.Int8,
        ["ByteStorage"] = torch.ScalarType.Byte,
        ["BoolStorage"] = torch.ScalarType.Bool,
        ["ComplexFloatStorage"] = torch.ScalarType.ComplexFloat32,
        ["ComplexDoubleStorage"] = torch.ScalarType.ComplexFloat64,
        ["UntypedStorage"] = torch.ScalarType.Byte, // torch.save of untyped storages: bytes
    };

    /// <summary>Python dtype names (as in <c>torch.float16</c>).</summary>
    public static IReadOnlyDictionary<string, torch.ScalarType> DTypes { get; } = new Dictionary<string, torch.ScalarType>
    {
        ["float64"] = torch.ScalarType.Float64, ["double"] = torch.ScalarType.Float64,
        ["float32"] = torch.ScalarType.Float32, ["float"] = torch.ScalarType.Float32,
        ["float16"] = torch.ScalarType.Float16, ["half"] = torch.ScalarType.Float16,
        ["bfloat16"] = torch.ScalarType.BFloat16,
        ["int64"] = torch.ScalarType.Int64, ["long"] = torch.ScalarType.Int64,
        ["int32"] = torch.ScalarType.Int32, ["int"] = torch.ScalarType.Int32,
        ["int16"] = torch.ScalarType.Int16, ["short"] = torch.ScalarType.Int16,
        ["int8"] = torch.ScalarType.Int8, ["uint8"] = torch.ScalarType.Byte,
        ["bool"] = torch.ScalarType.Bool,
        ["complex64"] = torch.ScalarType.ComplexFloat32, ["complex128"] = torch.ScalarType.ComplexFloat64,
    };

    /// <summary>Element size in bytes of a dtype a checkpoint can hold.</summary>
    public static int ElementSize(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Float64 or torch.ScalarType.Int64 or torch.ScalarType.ComplexFloat32 => 8,
        torch.ScalarType.ComplexFloat64 => 16,
        torch.ScalarType.Float32 or torch.ScalarType.Int32 => 4,
        torch.ScalarType.Float16 or torch.ScalarType.BFloat16 or torch.ScalarType.Int16 => 2,
        torch.ScalarType.Int8 or torch.ScalarType.Byte or torch.ScalarType.Bool => 1,
        _ => throw new NotSupportedException($"dtype {dtype} is not supported in checkpoints."),
    };

    /// <summary>The allow-list used for the main pickle of a torch.save file.</summary>
    public static PickleAllowList Create()
    {
        var list = new PickleAllowList();
        foreach (var storage in StorageTypes.Keys)
        {
            list.Add("torch", storage);
            list.Add("torch.cuda", storage); // legacy files saved from a GPU name torch.cuda.FloatStorage
        }
        list.Add("torch.storage", "UntypedStorage").Add("torch.storage", "TypedStorage").Add("torch", "TypedStorage");
        foreach (var dtype in DTypes.Keys) list.Add("torch", dtype);

        list.Add("torch._utils", "_rebuild_tensor_v2", RebuildTensor);
        list.Add("torch._utils", "_rebuild_tensor", RebuildTensor);
        list.Add("torch._utils", "_rebuild_parameter", RebuildParameter);
        list.Add("torch._utils", "_rebuild_parameter_with_state", RebuildParameter);
        list.Add("torch._tensor", "_rebuild_from_type_v2", RebuildFromType);
        list.Add("torch._tensor", "Tensor").Add("torch", "Tensor").Add("torch.nn.parameter", "Parameter");

        list.Add("collections", "OrderedDict", NewOrderedDict);
        list.Add("torch", "Size", call => new PickleTuple(call.Args.Count == 0 ? [] : [.. AsSequence(call, call.Args[0], "size")]));
        list.Add("torch", "device", call => call.Args.Count >= 1 && call.Args[0] is string s
            ? (call.Args.Count > 1 && call.Args[1] is long index ? $"{s}:{index}" : s)
            : throw call.Error("expected a device name"));
        // Protocol 2 pickles bytes as _codecs.encode(text, 'latin1'): a pure data conversion.
        list.Add("_codecs", "encode", call => call.Args switch
        {
            [string text, "latin1" or "latin-1"] => System.Text.Encoding.Latin1.GetBytes(text),
            [string text] => System.Text.Encoding.UTF8.GetBytes(text),
            [string text, "utf-8" or "utf8"] => System.Text.Encoding.UTF8.GetBytes(text),
            _ => throw call.Error("unsupported encoding"),
        });
        list.Add("builtins", "set", call => new HashSet<object?>(call.Args.Count == 0 ? [] : AsSequence(call, call.Args[0], "items"), PickleKeyComparer.Instance));
        list.Add("builtins", "frozenset", call => new HashSet<object?>(call.Args.Count == 0 ? [] : AsSequence(call, call.Args[0], "items"), PickleKeyComparer.Instance));
        return list;
    }

    private static object NewOrderedDict(PickleCall call)
    {
        var dict = new PickleDict(isOrderedDict: true);
        if (call.Args.Count == 0) return dict;
        foreach (var pair in AsSequence(call, call.Args[0], "items"))
        {
            if (pair is not IReadOnlyList<object?> { Count: 2 } kv || kv[0] is null) throw call.Error("OrderedDict items must be (key, value) pairs");
            dict[kv[0]!] = kv[1];
        }
        return dict;
    }

    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    // _rebuild_tensor(storage, storage_offset, size, stride)
    private static object RebuildTensor(PickleCall call)
    {
        if (call.Args.Count < 4) throw call.Error("expected at least (storage, storage_offset, size, stride)");
        if (call.Args[0] is not TorchStorageSlice storage) throw call.Error("the first argument is not a storage");
        var offset = AsLong(call, call.Args[1], "storage_offset");
        var shape = AsSequence(call, call.Args[2], "size").Select(x => AsLong(call, x, "size")).ToArray();
        var stride = AsSequence(call, call.Args[3], "stride").Select(x => AsLong(call, x, "stride")).ToArray();
        if (shape.Length != stride.Length) throw call.Error($"size has {shape.Length} dimensions but stride has {stride.Length}");
        var requiresGrad = call.Args.Count > 4 && call.Args[4] is true;
        if (call.Args.Count > 5 && call.Args[5] is PickleDict { Count: > 0 })
            throw call.Error("tensors with backward hooks are not supported");
        return new TensorDescriptor(storage, offset, shape, stride, requiresGrad, isParameter: false);
    }

    // _rebuild_parameter(data, requires_grad, backward_hooks[, state])
    private static object RebuildParameter(PickleCall call)
    {
        if (call.Args.Count < 2 || call.Args[0] is not TensorDescriptor data) throw call.Error("expected (tensor, requires_grad, ...)");
        return data.AsParameter(call.Args[1] is true);
    }

    // _rebuild_from_type_v2(func, new_type, args, state): used for tensor subclasses; only plain Tensor/Parameter types.
    private static object? RebuildFromType(PickleCall call)
    {
        if (call.Args.Count < 3 || call.Args[0] is not PickleGlobal func || call.Args[1] is not PickleGlobal type || call.Args[2] is not PickleTuple args)
            throw call.Error("expected (func, type, args, state)");
        if (type.Name is not ("Tensor" or "Parameter")) throw call.Error($"tensor subclass {type.FullName} is not supported");
        var rebuild = func.FullName switch
        {
            "torch._utils._rebuild_tensor_v2" or "torch._utils._rebuild_tensor" => (Func<PickleCall, object?>)RebuildTensor,
            "torch._utils._rebuild_parameter" or "torch._utils._rebuild_parameter_with_state" => RebuildParameter,
            _ => throw call.Error($"unsupported rebuild function {func.FullName}"),
        };
        return rebuild(call with { Callable = func, Args = args.ToArray() });
    }

    private static long AsLong(PickleCall call, object? value, string what) =>
        value is long l ? l : throw call.Error($"{what} must be an integer, got {PickleFormat.Describe(value)}");

    private static IEnumerable<object?> AsSequence(PickleCall call, object? value, string what) => value switch
    {
        PickleTuple t => t,
        List<object?> l => l,
        _ => throw call.Error($"{what} must be a tuple or list, got {PickleFormat.Describe(value)}"),
    };
}
