using System.Collections;
using System.Numerics;

namespace BiasBench.Torch.Weights;

/// <summary>
/// A reference to an allow-listed Python global (e.g. <c>torch.float16</c> or <c>collections.OrderedDict</c>).
/// It is only a name: the restricted unpickler never imports or runs anything.
/// </summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>An immutable Python tuple.</summary>
public sealed class PickleTuple : IReadOnlyList<object?>
{
    internal readonly object?[] Items;
    public static readonly PickleTuple Empty = new([]);

    public PickleTuple(object?[] items) => Items = items;
    public object? this[int index] => Items[index];
    public int Count => Items.Length;
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => Items.GetEnumerator();
    public override string ToString() => $"({string.Join(", ", Items.Select(PickleFormat.Describe))}{(Items.Length == 1 ? "," : "")})";
}

/// <summary>
/// A Python dict (or <c>collections.OrderedDict</c>): keys keep insertion order, as in Python 3.7+.
/// <see cref="Attributes"/> holds instance state set by the BUILD opcode (e.g. a state dict's <c>_metadata</c>).
/// </summary>
public sealed class PickleDict : IEnumerable<KeyValuePair<object, object?>>
{
    private readonly List<object> _keys = [];
    private readonly Dictionary<object, object?> _values = new(PickleKeyComparer.Instance);

    public PickleDict(bool isOrderedDict = false) => IsOrderedDict = isOrderedDict;

    public bool IsOrderedDict { get; }
    public PickleDict? Attributes { get; internal set; }
    public int Count => _keys.Count;
    public IEnumerable<object> Keys => _keys;

    public object? this[object key]
    {
        get => _values.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"Key '{PickleFormat.Describe(key)}' is not in the dict.");
        set
        {
            if (!_values.ContainsKey(key)) _keys.Add(key);
            _values[key] = value;
        }
    }

    public bool TryGetValue(object key, out object? value) => _values.TryGetValue(key, out value);
    public bool ContainsKey(object key) => _values.ContainsKey(key);

    public IEnumerator<KeyValuePair<object, object?>> GetEnumerator()
    {
        foreach (var k in _keys) yield return new KeyValuePair<object, object?>(k, _values[k]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Python equality for dict keys and set members: tuples compare element-wise, integers by value.</summary>
internal sealed class PickleKeyComparer : IEqualityComparer<object?>
{
    public static readonly PickleKeyComparer Instance = new();

    public new bool Equals(object? x, object? y)
    {
        x = Normalize(x); y = Normalize(y);
        if (x is PickleTuple tx && y is PickleTuple ty)
            return tx.Count == ty.Count && tx.Items.Zip(ty.Items).All(p => Equals(p.First, p.Second));
        if (x is byte[] bx && y is byte[] by) return bx.AsSpan().SequenceEqual(by);
        return object.Equals(x, y);
    }

    public int GetHashCode(object? obj)
    {
        obj = Normalize(obj);
        return obj switch
        {
            null => 0,
            PickleTuple t => t.Items.Aggregate(17, (h, item) => HashCode.Combine(h, GetHashCode(item))),
            byte[] b => b.Length,
            _ => obj.GetHashCode(),
        };
    }

    // Python treats True == 1 and small big-integers as ordinary ints.
    private static object? Normalize(object? o) => o switch
    {
        bool b => b ? 1L : 0L,
        BigInteger bi when bi >= long.MinValue && bi <= long.MaxValue => (long)bi,
        _ => o,
    };
}

internal static class PickleFormat
{
    public static string Describe(object? value) => value switch
    {
        null => "None",
        string s => $"'{s}'",
        bool b => b ? "True" : "False",
        byte[] bytes => $"bytes[{bytes.Length}]",
        PickleDict d => $"dict[{d.Count}]",
        IList<object?> l => $"list[{l.Count}]",
        _ => value.ToString() ?? value.GetType().Name,
    };
}
