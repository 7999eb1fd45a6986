using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace BiasBench.Torch.Weights;

/// <summary>
/// Thrown when a pickle names a global that is not on the allow-list (e.g. <c>posix.system</c>). The refusal happens
/// when the global is first named, before any REDUCE could apply it, so nothing in the file is ever executed.
/// </summary>
public sealed class ForbiddenPickleGlobalException : IOException
{
    public ForbiddenPickleGlobalException(string source, string module, string name, long offset)
        : base($"{source}: refusing to load the global '{module}.{name}' named at byte {offset} of the pickle; " +
               "only tensors, storages, dtypes and plain containers are allowed (nothing was executed). " +
               "If the file is trusted, convert it to safetensors with PyTorch.")
    {
        Origin = source; Module = module; Name = name;
    }

    /// <summary>The file (and archive record) that held the pickle.</summary>
    public string Origin { get; }
    public string Module { get; }
    public string Name { get; }
    public string GlobalName => $"{Module}.{Name}";
}

/// <summary>What an allow-listed constructor receives from REDUCE / NEWOBJ.</summary>
public sealed record PickleCall(PickleGlobal Callable, IReadOnlyList<object?> Args, string Source, long Offset)
{
    public InvalidDataException Error(string message) =>
        new($"{Source}: {Callable.FullName}{PickleFormat.Describe(new PickleTuple(Args.ToArray()))} at byte {Offset}: {message}");
}

/// <summary>
/// The globals a pickle may name. An entry without a constructor can only be used as a value (a dtype, a storage
/// type); an entry with one is applied by REDUCE / NEWOBJ through that C# constructor.
/// </summary>
public sealed class PickleAllowList
{
    private readonly Dictionary<string, Func<PickleCall, object?>?> _entries = new(StringComparer.Ordinal);

    public PickleAllowList Add(string module, string name, Func<PickleCall, object?>? construct = null)
    {
        _entries[$"{module}.{name}"] = construct;
        return this;
    }

    public bool IsAllowed(string module, string name) => _entries.ContainsKey($"{module}.{name}");

    internal Func<PickleCall, object?>? ConstructorOf(PickleGlobal global) =>
        _entries.TryGetValue(global.FullName, out var c) ? c : null;
}

/// <summary>
/// A pickle virtual machine (protocols 0-5) written without any reflection or code loading: GLOBAL / STACK_GLOBAL /
/// INST resolve only allow-listed names, REDUCE / NEWOBJ / OBJ / INST only apply the allow-list's C# constructors,
/// and BUILD only sets attributes on dicts. Python values become: None -> null, bool, long (or BigInteger), double,
/// string, byte[], <see cref="PickleTuple"/>, <see cref="List{T}"/> of object?, <see cref="PickleDict"/>,
/// <see cref="HashSet{T}"/> of object?.
/// </summary>
public sealed class RestrictedUnpickler
{
    private const int MaxProtocol = 5;
    private readonly Stream _stream;
    private readonly long _start;
    private readonly long? _limit;
    private readonly string _source;
    private readonly PickleAllowList _allowList;
    private readonly Func<object?, object?>? _persistentLoad;
    private readonly List<object?> _stack = [];
    private readonly Stack<List<object?>> _metaStack = new();
    private readonly Dictionary<long, object?> _memo = [];
    private long _opcodeOffset;

    /// <param name="stream">Read from its current position up to the STOP opcode, and no further.</param>
    /// <param name="source">Names the file (and archive record) in error messages.</param>
    /// <param name="persistentLoad">Resolves BINPERSID / PERSID ids; without it persistent ids are refused.</param>
    public RestrictedUnpickler(Stream stream, string source, PickleAllowList allowList, Func<object?, object?>? persistentLoad = null)
    {
        _stream = stream; _source = source; _allowList = allowList; _persistentLoad = persistentLoad;
        _start = stream.CanSeek ? stream.Position : 0;
        _limit = stream.CanSeek ? stream.Length : null;
    }

    private long Position => _stream.CanSeek ? _stream.Position - _start : -1;

    public object? Load()
    {
        _stack.Clear(); _metaStack.Clear(); _memo.Clear();
        try
        {
            return Run();
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            // Malformed literals in text opcodes (protocol 0) surface as parse errors.
            throw new InvalidDataException($"{_source}: malformed pickle data at byte {_opcodeOffset}: {e.Message}", e);
        }
    }

    private object? Run()
    {
        while (true)
        {
            _opcodeOffset = Position;
            var op = _stream.ReadByte();
            if (op < 0) throw Corrupt("unexpected end of data (truncated file?) before the pickle's STOP opcode");
            switch (op)
            {
                case 0x80: // PROTO
                    var proto = ReadByte();
                    if (proto > MaxProtocol) throw Corrupt($"unsupported pickle protocol {proto}");
                    break;
                case 0x95: ReadBytes(8); break; // FRAME: a length hint only; data are read sequentially anyway
                case '.': // STOP
                    if (_stack.Count != 1 || _metaStack.Count != 0) throw Corrupt($"STOP with {_stack.Count} values on the stack");
                    return _stack[0];

                // Stack manipulation
                case '(': _metaStack.Push([.. _stack]); _stack.Clear(); break; // MARK
                case '0': Pop(); break; // POP
                case '1': PopMark(); break; // POP_MARK
                case '2': Push(Peek()); break; // DUP

                // Constants and numbers
                case 'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break; // BININT
                case 'K': Push((long)ReadByte()); break; // BININT1
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break; // BININT2
                case 0x8a: Push(DecodeLong(ReadBytes(ReadByte()))); break; // LONG1
                case 0x8b: Push(DecodeLong(ReadBytes(ReadLength(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)))))); break; // LONG4
                case 'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break; // BINFLOAT
                case 'I': Push(ParseIntLine(ReadLine())); break; // INT (protocol 0; "01"/"00" are True/False)
                case 'L': Push(ParseBigInteger(ReadLine().TrimEnd('L'))); break; // LONG
                case 'F': Push(double.Parse(ReadLine(), NumberStyles.Float, CultureInfo.InvariantCulture)); break; // FLOAT

                // Strings and bytes
                case 'X': Push(Utf8(ReadBytes(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))))); break; // BINUNICODE
                case 0x8c: Push(Utf8(ReadBytes(ReadByte()))); break; // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(ReadBytes(ReadLength(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8)))))); break; // BINUNICODE8
                case 'V': Push(DecodeRawUnicodeEscape(ReadLine())); break; // UNICODE
                case 'T': Push(Latin1(ReadBytes(ReadLength(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)))))); break; // BINSTRING
                case 'U': Push(Latin1(ReadBytes(ReadByte()))); break; // SHORT_BINSTRING
                case 'S': Push(ParseQuotedString(ReadLine())); break; // STRING
                case 'B': Push(ReadBytes(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))))); break; // BINBYTES
                case 'C': Push(ReadBytes(ReadByte())); break; // SHORT_BINBYTES
                case 0x8e: Push(ReadBytes(ReadLength(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8))))); break; // BINBYTES8
                case 0x96: Push(ReadBytes(ReadLength(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8))))); break; // BYTEARRAY8

                // Containers
                case ')': Push(PickleTuple.Empty); break;
                case 't': Push(new PickleTuple([.. PopMark()])); break;
                case 0x85: Push(new PickleTuple([Pop()])); break;
                case 0x86: { var b = Pop(); var a = Pop(); Push(new PickleTuple([a, b])); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PickleTuple([a, b, c])); break; }
                case ']': Push(new List<object?>()); break;
                case 'l': Push(PopMark()); break;
                case 'a': { var item = Pop(); AsList(Peek()).Add(item); break; }
                case 'e': { var items = PopMark(); AsList(Peek()).AddRange(items); break; }
                case '}': Push(new PickleDict()); break;
                case 'd': { var items = PopMark(); var dict = new PickleDict(); SetItems(dict, items); Push(dict); break; }
                case 's': { var value = Pop(); var key = Pop(); SetItem(AsDict(Peek()), key, value); break; }
                case 'u': { var items = PopMark(); SetItems(AsDict(Peek()), items); break; }
                case 0x8f: Push(new HashSet<object?>(PickleKeyComparer.Instance)); break; // EMPTY_SET
                case 0x90: { var items = PopMark(); var set = AsSet(Peek()); foreach (var i in items) set.Add(i); break; } // ADDITEMS
                case 0x91: Push(new HashSet<object?>(PopMark(), PickleKeyComparer.Instance)); break; // FROZENSET

                // Memo
                case 'q': _memo[ReadByte()] = Peek(); break; // BINPUT
                case 'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break; // LONG_BINPUT
                case 'p': _memo[ParseMemoIndex(ReadLine())] = Peek(); break; // PUT
                case 0x94: _memo[_memo.Count] = Peek(); break; // MEMOIZE
                case 'h': Push(MemoGet(ReadByte())); break; // BINGET
                case 'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET
                case 'g': Push(MemoGet(ParseMemoIndex(ReadLine()))); break; // GET

                // Globals and object construction: the only places code could run, so all go through the allow-list.
                case 'c': { var module = ReadLine(); var name = ReadLine(); Push(ResolveGlobal(module, name)); break; } // GLOBAL
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop(); var module = Pop();
                    if (module is not string m || name is not string n) throw Corrupt("STACK_GLOBAL needs two strings");
                    Push(ResolveGlobal(m, n));
                    break;
                }
                case 'R': { var args = Pop(); var callable = Pop(); Push(Call(callable, AsTuple(args, "REDUCE arguments"))); break; } // REDUCE
                case 0x81: { var args = Pop(); var cls = Pop(); Push(Call(cls, AsTuple(args, "NEWOBJ arguments"))); break; } // NEWOBJ
                case 0x92: // NEWOBJ_EX
                {
                    var kwargs = Pop(); var args = Pop(); var cls = Pop();
                    if (kwargs is PickleDict { Count: > 0 }) throw Corrupt($"NEWOBJ_EX with keyword arguments for {PickleFormat.Describe(cls)} is not supported");
                    Push(Call(cls, AsTuple(args, "NEWOBJ_EX arguments")));
                    break;
                }
                case 'i': // INST
                {
                    var module = ReadLine(); var name = ReadLine();
                    var cls = ResolveGlobal(module, name);
                    Push(Call(cls, new PickleTuple([.. PopMark()])));
                    break;
                }
                case 'o': // OBJ
                {
                    var items = PopMark();
                    if (items.Count == 0) throw Corrupt("OBJ without a class");
                    Push(Call(items[0], new PickleTuple([.. items.Skip(1)])));
                    break;
                }
                case 'b': { var state = Pop(); Build(Peek(), state); break; } // BUILD

                // Persistent ids (tensor storages)
                case 'Q': Push(PersistentLoad(Pop())); break; // BINPERSID
                case 'P': Push(PersistentLoad(ReadLine())); break; // PERSID

                case 0x82: case 0x83: case 0x84:
                    throw Corrupt("copyreg extension codes (EXT1/EXT2/EXT4) are not supported");
                case 0x97: case 0x98:
                    throw Corrupt("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not supported");
                default:
                    throw Corrupt($"unknown pickle opcode 0x{op:x2} (corrupt file, or not a pickle?)");
            }
        }
    }

    private InvalidDataException Corrupt(string message) => new($"{_source}: {message} (at byte {_opcodeOffset} of the pickle).");

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        if (_stack.Count == 0) throw Corrupt("stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek() => _stack.Count == 0 ? throw Corrupt("stack underflow") : _stack[^1];

    private List<object?> PopMark()
    {
        if (_metaStack.Count == 0) throw Corrupt("MARK expected but not found");
        var items = new List<object?>(_stack);
        _stack.Clear();
        _stack.AddRange(_metaStack.Pop());
        return items;
    }

    private object? MemoGet(long index) =>
        _memo.TryGetValue(index, out var v) ? v : throw Corrupt($"memo entry {index} read before it was written");

    private PickleGlobal ResolveGlobal(string module, string name)
    {
        // torch renamed torch.tensor -> torch._tensor; old files still say torch.tensor.
        if (module == "torch.tensor") module = "torch._tensor";
        // Protocols 0-2 spell Python 3's builtins the Python 2 way.
        if (module == "__builtin__") module = "builtins";
        if (!_allowList.IsAllowed(module, name))
            throw new ForbiddenPickleGlobalException(_source, module, name, _opcodeOffset);
        return new PickleGlobal(module, name);
    }

    private object? Call(object? callable, PickleTuple args)
    {
        if (callable is not PickleGlobal global)
            throw Corrupt($"cannot call {PickleFormat.Describe(callable)}: only allow-listed globals can be applied");
        var construct = _allowList.ConstructorOf(global)
            ?? throw Corrupt($"the global '{global.FullName}' is allowed as a value but cannot be called");
        return construct(new PickleCall(global, args, _source, _opcodeOffset));
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case PickleDict dict:
                // Python objects' __dict__ (or (dict_state, slot_state)) becomes the dict's attributes, e.g. _metadata.
                if (state is PickleTuple { Count: 2 } slots) state = slots[0] ?? slots[1];
                if (state is null) return;
                if (state is not PickleDict attrs) throw Corrupt($"BUILD state for a dict must be a dict, got {PickleFormat.Describe(state)}");
                dict.Attributes ??= new PickleDict();
                foreach (var kv in attrs) dict.Attributes[kv.Key] = kv.Value;
                return;
            case IPickleBuildable buildable:
                buildable.Build(state, this);
                return;
            default:
                throw Corrupt($"BUILD on {PickleFormat.Describe(target)} is not supported");
        }
    }

    internal InvalidDataException BuildError(string message) => Corrupt(message);

    private object? PersistentLoad(object? id) =>
        _persistentLoad is null
            ? throw Corrupt($"persistent id {PickleFormat.Describe(id)} found but this pickle does not allow external storages")
            : _persistentLoad(id);

    private List<object?> AsList(object? o) => o as List<object?> ?? throw Corrupt($"APPEND to {PickleFormat.Describe(o)}, which is not a list");
    private PickleDict AsDict(object? o) => o as PickleDict ?? throw Corrupt($"SETITEM on {PickleFormat.Describe(o)}, which is not a dict");
    private HashSet<object?> AsSet(object? o) => o as HashSet<object?> ?? throw Corrupt($"ADDITEMS on {PickleFormat.Describe(o)}, which is not a set");
    private PickleTuple AsTuple(object? o, string what) => o as PickleTuple ?? throw Corrupt($"{what} must be a tuple, got {PickleFormat.Describe(o)}");

    private void SetItem(PickleDict dict, object? key, object? value)
    {
        if (key is null or List<object?> or PickleDict or HashSet<object?>)
            throw Corrupt($"unhashable dict key {PickleFormat.Describe(key)}");
        dict[key] = value;
    }

    private void SetItems(PickleDict dict, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Corrupt("odd number of items for a dict");
        for (var i = 0; i < items.Count; i += 2) SetItem(dict, items[i], items[i + 1]);
    }

    private int ReadByte()
    {
        var b = _stream.ReadByte();
        return b < 0 ? throw Corrupt("unexpected end of data (truncated file?)") : b;
    }

    private int ReadLength(long length)
    {
        if (length < 0) throw Corrupt($"negative length {length}");
        if (_limit is { } limit && length > limit - _stream.Position)
            throw Corrupt($"length {length} runs past the end of the data (truncated file?)");
        if (length > Array.MaxLength) throw Corrupt($"length {length} is too large");
        return (int)length;
    }

    private int ReadLength(ulong length) => ReadLength(length > long.MaxValue ? -1 : (long)length);

    private byte[] ReadBytes(int count)
    {
        var buffer = new byte[count];
        var read = _stream.ReadAtLeast(buffer, count, throwOnEndOfStream: false);
        if (read < count) throw Corrupt($"unexpected end of data: needed {count} bytes, found {read} (truncated file?)");
        return buffer;
    }

    private string ReadLine()
    {
        var bytes = new List<byte>();
        while (true)
        {
            var b = ReadByte();
            if (b == '\n') break;
            if (bytes.Count > 1 << 20) throw Corrupt("text argument longer than 1 MiB");
            bytes.Add((byte)b);
        }
        // Text opcodes are ASCII, except UNICODE's raw-unicode-escape, which writes code points < 256 as Latin-1 bytes.
        return Encoding.Latin1.GetString(bytes.ToArray());
    }

    private string Utf8(byte[] bytes)
    {
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Corrupt("invalid UTF-8 in a string"); }
    }

    private static string Latin1(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    private static object DecodeLong(byte[] littleEndianTwosComplement)
    {
        var value = new BigInteger(littleEndianTwosComplement, isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;
    }

    private object ParseIntLine(string line)
    {
        if (line == "01") return true;
        if (line == "00") return false;
        return ParseBigInteger(line);
    }

    private object ParseBigInteger(string text)
    {
        if (!BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw Corrupt($"invalid integer literal '{text}'");
        return v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
    }

    private long ParseMemoIndex(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw Corrupt($"invalid memo index '{text}'");

    private string ParseQuotedString(string line)
    {
        if (line.Length < 2 || line[0] != line[^1] || (line[0] != '\'' && line[0] != '"'))
            throw Corrupt("STRING argument is not quoted");
        return System.Text.RegularExpressions.Regex.Unescape(line[1..^1]); // close enough to Python's escapes for protocol-0 text
    }

    private static string DecodeRawUnicodeEscape(string text)
    {
        // Protocol 0 UNICODE uses raw-unicode-escape: only \uXXXX and \UXXXXXXXX are escapes.
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 5 < text.Length && text[i + 1] == 'u')
            {
                sb.Append((char)Convert.ToInt32(text.Substring(i + 2, 4), 16)); i += 5;
            }
            else if (text[i] == '\\' && i + 9 < text.Length && text[i + 1] == 'U')
            {
                sb.Append(char.ConvertFromUtf32(Convert.ToInt32(text.Substring(i + 2, 8), 16))); i += 9;
            }
            else sb.Append(text[i]);
        }
        return sb.ToString();
    }
}

/// <summary>Allow-listed objects that accept BUILD state (e.g. tensors ignore empty state).</summary>
public interface IPickleBuildable
{
    void Build(object? state, RestrictedUnpickler unpickler);
}
