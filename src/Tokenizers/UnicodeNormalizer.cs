using System.Reflection;
using System.Text;

namespace BiasBench.Tokenizers;

/// <summary>
/// Canonical Unicode normalization (NFD / NFC) from embedded tables generated with CPython's unicodedata
/// (Resources/generate_tables.py). Needed because the repository runs with InvariantGlobalization=true, where
/// <see cref="string.Normalize()"/> leaves non-ASCII text unchanged, which would silently break accent handling.
/// </summary>
public static class UnicodeNormalizer
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Tables> Data = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    private sealed record Tables(Dictionary<int, int[]> Decompositions, Dictionary<int, int> CombiningClass,
        Dictionary<long, int> Compositions);

    /// <summary>Canonical combining class of a code point (0 for starters).</summary>
    public static int CombiningClass(int codePoint) =>
        Data.Value.CombiningClass.TryGetValue(codePoint, out var ccc) ? ccc : 0;

    /// <summary>Canonical decomposition (NFD), like Python's unicodedata.normalize("NFD", s).</summary>
    public static string Nfd(string text)
    {
        if (IsAscii(text)) return text;
        return Build(Decompose(text));
    }

    /// <summary>Canonical composition (NFC), like Python's unicodedata.normalize("NFC", s).</summary>
    public static string Nfc(string text)
    {
        if (IsAscii(text)) return text;
        var cps = Decompose(text);
        Compose(cps);
        return Build(cps);
    }

    private static bool IsAscii(string s)
    {
        foreach (var c in s) if (c >= 0x80) return false;
        return true;
    }

    private static List<int> Decompose(string text)
    {
        var t = Data.Value;
        var result = new List<int>(text.Length + 8);
        foreach (var rune in text.EnumerateRunes())
        {
            var cp = rune.Value;
            if (cp >= SBase && cp < SBase + SCount)
            {
                var s = cp - SBase;
                result.Add(LBase + s / NCount);
                result.Add(VBase + s % NCount / TCount);
                if (s % TCount != 0) result.Add(TBase + s % TCount);
            }
            else if (t.Decompositions.TryGetValue(cp, out var d)) result.AddRange(d);
            else result.Add(cp);
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        for (var i = 1; i < result.Count; i++)
        {
            var ccc = CombiningClass(result[i]);
            if (ccc == 0) continue;
            var j = i;
            while (j > 0)
            {
                var prev = CombiningClass(result[j - 1]);
                if (prev == 0 || prev <= ccc) break;
                (result[j - 1], result[j]) = (result[j], result[j - 1]);
                j--;
            }
        }
        return result;
    }

    private static void Compose(List<int> cps)
    {
        var comps = Data.Value.Compositions;
        if (cps.Count == 0) return;
        var starterIndex = CombiningClass(cps[0]) == 0 ? 0 : -1;
        var lastClass = starterIndex == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < cps.Count; read++)
        {
            var cp = cps[read];
            var ccc = CombiningClass(cp);
            var composed = false;
            if (starterIndex >= 0 && (lastClass < ccc || (lastClass == 0 && write - 1 == starterIndex)))
            {
                var starter = cps[starterIndex];
                int? pair = null;
                if (starter >= LBase && starter < LBase + LCount && cp >= VBase && cp < VBase + VCount)
                    pair = SBase + ((starter - LBase) * VCount + (cp - VBase)) * TCount;
                else if (starter >= SBase && starter < SBase + SCount && (starter - SBase) % TCount == 0
                         && cp > TBase && cp < TBase + TCount)
                    pair = starter + (cp - TBase);
                else if (comps.TryGetValue(((long)starter << 21) | (uint)cp, out var c)) pair = c;
                if (pair is int p)
                {
                    cps[starterIndex] = p;
                    composed = true;
                }
            }
            if (composed) continue;
            if (ccc == 0)
            {
                starterIndex = write;
                lastClass = 0;
            }
            else lastClass = ccc;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static string Build(List<int> cps)
    {
        var sb = new StringBuilder(cps.Count);
        foreach (var cp in cps) sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }

    private static Tables Load()
    {
        var decompositions = new Dictionary<int, int[]>();
        var classes = new Dictionary<int, int>();
        var compositions = new Dictionary<long, int>();
        foreach (var (line, number) in EmbeddedResources.Lines("unicode_normalization.tsv"))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var parts = line.Split('\t');
            try
            {
                switch (parts[0])
                {
                    case "D":
                        decompositions[Hex(parts[1])] = parts[2].Split(' ').Select(Hex).ToArray();
                        break;
                    case "C":
                        classes[Hex(parts[1])] = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "P":
                        compositions[((long)Hex(parts[1]) << 21) | (uint)Hex(parts[2])] = Hex(parts[3]);
                        break;
                    default:
                        throw new FormatException($"unknown record type '{parts[0]}'");
                }
            }
            catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
            {
                throw new InvalidDataException(
                    $"Embedded resource unicode_normalization.tsv line {number} is malformed: '{line}'", e);
            }
        }
        return new Tables(decompositions, classes, compositions);
    }

    private static int Hex(string s) => int.Parse(s, System.Globalization.NumberStyles.HexNumber,
        System.Globalization.CultureInfo.InvariantCulture);
}

internal static class EmbeddedResources
{
    /// <summary>Lines of an embedded resource (1-based line numbers), LF separated.</summary>
    public static IEnumerable<(string Line, int Number)> Lines(string name)
    {
        var assembly = typeof(EmbeddedResources).Assembly;
        var resource = assembly.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith("." + name, StringComparison.Ordinal))
                       ?? throw new InvalidOperationException($"Embedded resource '{name}' is missing from {assembly.GetName().Name}.");
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var number = 0;
        while (reader.ReadLine() is { } line) yield return (line, ++number);
    }
}
