namespace BiasBench.Tokenizers.Tests;

/// <summary>Python-compatible text primitives; expected values are what CPython 3.11 returns.</summary>
public class TextPrimitivesTests
{
    [Theory]
    [InlineData("&amp;", "&")]
    [InlineData("&amp;amp;", "&amp;")]
    [InlineData("&lt;b&gt;", "<b>")]
    [InlineData("&#39;q&#x27;", "'q'")]
    [InlineData("&copy 2024", "\u00a9 2024")]         // legacy entity without ';'
    [InlineData("&notit;", "\u00acit;")]             // longest known prefix, rest kept
    [InlineData("&notin;", "\u2209")]
    [InlineData("&#0;", "\ufffd")]
    [InlineData("&#128;", "\u20ac")]                 // Windows-1252 remapping
    [InlineData("&#x110000;", "\ufffd")]
    [InlineData("&#55296;", "\ufffd")]
    [InlineData("&#1;", "")]
    [InlineData("&#x1F600;", "\U0001F600")]
    [InlineData("&bogus; & &#; &#x;", "&bogus; & &#; &#x;")]
    [InlineData("&AMP;", "&")]
    [InlineData("&ampx", "&x")]
    [InlineData("&#65&#66", "AB")]
    public void HtmlUnescape_MatchesCPython(string input, string expected) =>
        Assert.Equal(expected, PyText.HtmlUnescape(input));

    [Theory]
    [InlineData("ΟΔΟΣ", "οδος")]
    [InlineData("ΟΔΟΣ.", "οδος.")]
    [InlineData("ΣΑΣ Σ", "σας σ")]
    [InlineData("İ", "i\u0307")]
    [InlineData("ÀÉÎ ǅ Ω", "àéî ǆ ω")]
    [InlineData("\U00010400", "\U00010428")]
    public void Lower_MatchesCPython(string input, string expected) => Assert.Equal(expected, PyText.Lower(input));

    [Fact]
    public void StripAndSplit_UsePythonWhitespace()
    {
        Assert.Equal("a\u001cb", PyText.Strip("\u001c\u00a0 a\u001cb\u3000\u001f"));
        Assert.Equal(new[] { "a", "b", "c" }, PyText.Split("\u2003a\u001cb\u0085c "));
        // regex \s (White_Space) does not include U+001C, str.isspace does.
        Assert.Equal(" a\u001cb c ", PyText.CollapseWhitespace("\t\na\u001cb\u2028\u3000c "));
    }

    [Theory]
    [InlineData("cafe\u0301", "caf\u00e9")]
    [InlineData("\u1100\u1161\u11a8", "\uac01")]                 // Hangul L V T
    [InlineData("u\u0308\u0304", "\u01d6")]                     // two-step composition
    [InlineData("a\u0323\u0302", "\u1ead")]                     // reordered marks compose
    [InlineData("a\u0302\u0323", "\u1ead")]
    [InlineData("\u212b", "\u00c5")]                            // singleton decomposition
    [InlineData("\u0301a", "\u0301a")]                          // leading combining mark stays
    public void Nfc_MatchesCPython(string input, string expected) => Assert.Equal(expected, UnicodeNormalizer.Nfc(input));

    [Theory]
    [InlineData("\u00e9", "e\u0301")]
    [InlineData("\uac01", "\u1100\u1161\u11a8")]
    [InlineData("\u1ead", "a\u0323\u0302")]
    [InlineData("a\u0302\u0323", "a\u0323\u0302")]              // canonical ordering
    [InlineData("\ufb01", "\ufb01")]                            // compatibility mapping not applied
    public void Nfd_MatchesCPython(string input, string expected) => Assert.Equal(expected, UnicodeNormalizer.Nfd(input));
}
