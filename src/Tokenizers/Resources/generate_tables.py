"""Regenerates the embedded data tables from CPython's standard library (run with the Python whose behaviour
the tokenizers should copy). The .NET runtime in this repository runs with InvariantGlobalization=true, where
string.Normalize is a no-op for non-ASCII text, so NFC/NFD are implemented in C# from these tables."""
import html.entities
import sys
import unicodedata

with open("html5_entities.tsv", "w", newline="\n") as f:
    f.write(f"# HTML5 named character references (WHATWG list, as in CPython {sys.version.split()[0]} html.entities.html5): name<TAB>code points (hex)\n")
    for k, v in sorted(html.entities.html5.items()):
        f.write(k + "\t" + " ".join("%X" % ord(c) for c in v) + "\n")

with open("unicode_normalization.tsv", "w", newline="\n") as f:
    f.write(f"# Unicode {unicodedata.unidata_version} canonical normalization data from CPython {sys.version.split()[0]} unicodedata (Hangul is algorithmic).\n")
    f.write("# D<TAB>cp<TAB>full canonical decomposition | C<TAB>cp<TAB>canonical combining class | P<TAB>first<TAB>second<TAB>primary composite\n")
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        ch = chr(cp)
        nfd = unicodedata.normalize("NFD", ch)
        if nfd != ch:
            f.write("D\t%X\t%s\n" % (cp, " ".join("%X" % ord(c) for c in nfd)))
        ccc = unicodedata.combining(ch)
        if ccc:
            f.write("C\t%X\t%d\n" % (cp, ccc))
        dec = unicodedata.decomposition(ch)
        if dec and not dec.startswith("<"):
            parts = [int(p, 16) for p in dec.split()]
            if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == ch:
                f.write("P\t%X\t%X\t%X\n" % (parts[0], parts[1], cp))
