using System.Globalization;
using System.Text;

namespace BiasBench.Tokenizers;

/// <summary>
/// The Python string primitives the reference tokenizers rely on (str.isspace/strip/split/lower, html.unescape,
/// the `regex` module's \s), reproduced on Unicode code points so that results match CPython, not .NET defaults.
/// </summary>
public static class PyText
{
    /// <summary>Python's str.isspace for one code point (includes U+001C..U+001F, unlike char.IsWhiteSpace).</summary>
    public static bool IsSpace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        >= 0x1C and <= 0x20 => true,
        0x85 or 0xA0 or 0x1680 or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        >= 0x2000 and <= 0x200A => true,
        _ => false,
    };

    /// <summary>`\s` of the `regex` module on str: the Unicode White_Space property.</summary>
    public static bool IsRegexSpace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        >= 0x2000 and <= 0x200A => true,
        _ => false,
    };

    /// <summary>Python's str.strip() with no arguments.</summary>
    public static string Strip(string s)
    {
        var start = 0;
        var end = s.Length;
        // All Python whitespace is in the BMP, so char-wise trimming is exact.
        while (start < end && IsSpace(s[start])) start++;
        while (end > start && IsSpace(s[end - 1])) end--;
        return s.Substring(start, end - start);
    }

    /// <summary>Python's str.split() with no arguments (runs of whitespace, no empty items).</summary>
    public static List<string> Split(string s)
    {
        var result = new List<string>();
        var i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && IsSpace(s[i])) i++;
            var start = i;
            while (i < s.Length && !IsSpace(s[i])) i++;
            if (i > start) result.Add(s.Substring(start, i - start));
        }
        return result;
    }

    /// <summary>regex.sub(r'\s+', ' ', s) with the `regex` module's Unicode \s.</summary>
    public static string CollapseWhitespace(string s)
    {
        var sb = new StringBuilder(s.Length);
        var inSpace = false;
        foreach (var c in s)
        {
            if (IsRegexSpace(c))
            {
                if (!inSpace) sb.Append(' ');
                inSpace = true;
            }
            else
            {
                sb.Append(c);
                inSpace = false;
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// Python's str.lower(): per-code-point lower case mapping plus the two context rules CPython applies
    /// (U+0130 -> "i\u0307" and the Greek final sigma).
    /// </summary>
    public static string Lower(string s)
    {
        var runes = s.EnumerateRunes().ToArray();
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < runes.Length; i++)
        {
            var r = runes[i];
            if (r.Value < 0x80)
            {
                sb.Append((char)(r.Value is >= 'A' and <= 'Z' ? r.Value + 32 : r.Value));
                continue;
            }
            if (r.Value == 0x130) sb.Append("i\u0307");
            else if (r.Value == 0x3A3) sb.Append(IsFinalSigma(runes, i) ? '\u03C2' : '\u03C3');
            else sb.Append(Rune.ToLowerInvariant(r).ToString());
        }
        return sb.ToString();
    }

    // CPython's handle_capital_sigma: \p{cased}\p{case-ignorable}* U+03A3 !(\p{case-ignorable}* \p{cased}).
    private static bool IsFinalSigma(Rune[] runes, int i)
    {
        var j = i - 1;
        while (j >= 0 && IsCaseIgnorable(runes[j])) j--;
        if (j < 0 || !IsCased(runes[j])) return false;
        j = i + 1;
        while (j < runes.Length && IsCaseIgnorable(runes[j])) j++;
        return j == runes.Length || !IsCased(runes[j]);
    }

    private static bool IsCased(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter
        or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(Rune r) =>
        r.Value is '\'' or '.' or ':' or '^' or '`' or 0xB7 or 0x2018 or 0x2019 or 0x2024 or 0x2027 or 0xFE13
            or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A or 0x387 or 0x5F4
        || Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;

    private static readonly Lazy<Dictionary<string, string>> Html5 = new(LoadHtml5);

    private static readonly Dictionary<int, string> InvalidCharrefs = new()
    {
        [0x00] = "\uFFFD", [0x0D] = "\r", [0x80] = "\u20AC", [0x81] = "\x81", [0x82] = "\u201A", [0x83] = "\u0192",
        [0x84] = "\u201E", [0x85] = "\u2026", [0x86] = "\u2020", [0x87] = "\u2021", [0x88] = "\u02C6",
        [0x89] = "\u2030", [0x8A] = "\u0160", [0x8B] = "\u2039", [0x8C] = "\u0152", [0x8D] = "\x8D",
        [0x8E] = "\u017D", [0x8F] = "\x8F", [0x90] = "\x90", [0x91] = "\u2018", [0x92] = "\u2019",
        [0x93] = "\u201C", [0x94] = "\u201D", [0x95] = "\u2022", [0x96] = "\u2013", [0x97] = "\u2014",
        [0x98] = "\u02DC", [0x99] = "\u2122", [0x9A] = "\u0161", [0x9B] = "\u203A", [0x9C] = "\u0153",
        [0x9D] = "\x9D", [0x9E] = "\u017E", [0x9F] = "\u0178",
    };

    private static bool IsInvalidCodepoint(long n) =>
        n is >= 0x1 and <= 0x8 or 0xB or >= 0xE and <= 0x1F or >= 0x7F and <= 0x9F or >= 0xFDD0 and <= 0xFDEF
        || (n & 0xFFFE) == 0xFFFE;

    /// <summary>Python's html.unescape (HTML5 named and numeric character references, WHATWG error handling).</summary>
    public static string HtmlUnescape(string s)
    {
        if (!s.Contains('&')) return s;
        var sb = new StringBuilder(s.Length);
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (c != '&' || !TryMatchCharref(s, i + 1, out var end))
            {
                sb.Append(c);
                i++;
                continue;
            }
            sb.Append(ReplaceCharref(s.Substring(i + 1, end - i - 1)));
            i = end;
        }
        return sb.ToString();
    }

    // The regex &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) starting after the '&'.
    private static bool TryMatchCharref(string s, int start, out int end)
    {
        end = start;
        if (start >= s.Length) return false;
        if (s[start] == '#')
        {
            var j = start + 1;
            while (j < s.Length && char.IsAsciiDigit(s[j])) j++;
            if (j > start + 1) return Finish(s, j, out end);
            if (start + 1 < s.Length && s[start + 1] is 'x' or 'X')
            {
                j = start + 2;
                while (j < s.Length && char.IsAsciiHexDigit(s[j])) j++;
                if (j > start + 2) return Finish(s, j, out end);
            }
            return false; // '#' is excluded from the named alternative
        }
        var k = start;
        var count = 0;
        while (k < s.Length && count < 32 && s[k] is not ('\t' or '\n' or '\f' or ' ' or '<' or '&' or '#' or ';'))
        {
            k += char.IsHighSurrogate(s[k]) && k + 1 < s.Length && char.IsLowSurrogate(s[k + 1]) ? 2 : 1;
            count++;
        }
        return count > 0 && Finish(s, k, out end);
    }

    private static bool Finish(string s, int j, out int end)
    {
        end = j < s.Length && s[j] == ';' ? j + 1 : j;
        return true;
    }

    private static string ReplaceCharref(string g)
    {
        if (g[0] == '#')
        {
            var hex = g[1] is 'x' or 'X';
            var digits = g.AsSpan(hex ? 2 : 1).TrimEnd(';');
            long num = 0;
            foreach (var d in digits)
            {
                num = num * (hex ? 16 : 10) + Convert.ToInt32(d.ToString(), 16);
                if (num > 0x10FFFF) { num = 0x110000; } // saturate: anything larger maps to U+FFFD
            }
            if (InvalidCharrefs.TryGetValue((int)num, out var replacement)) return replacement;
            if (num is >= 0xD800 and <= 0xDFFF || num > 0x10FFFF) return "\uFFFD";
            if (IsInvalidCodepoint(num)) return "";
            return char.ConvertFromUtf32((int)num);
        }
        var table = Html5.Value;
        if (table.TryGetValue(g, out var value)) return value;
        for (var x = g.Length - 1; x > 1; x--)
            if (table.TryGetValue(g[..x], out value)) return value + g[x..];
        return "&" + g;
    }

    private static Dictionary<string, string> LoadHtml5()
    {
        var table = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (line, number) in EmbeddedResources.Lines("html5_entities.tsv"))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var tab = line.IndexOf('\t');
            if (tab <= 0) throw new InvalidDataException($"Embedded resource html5_entities.tsv line {number} is malformed: '{line}'");
            table[line[..tab]] = string.Concat(line[(tab + 1)..].Split(' ').Select(h =>
                char.ConvertFromUtf32(int.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture))));
        }
        return table;
    }
}
