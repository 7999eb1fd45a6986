using System.Buffers.Binary;
using System.Text;

namespace BiasBench.Torch.Backend;

/// <summary>
/// Marks one version-need entry of an ELF64 shared library as weak (VER_FLG_WEAK), so the dynamic loader accepts
/// the library when the system library lacks that version. Used for TorchSharp's libLibTorchSharp.so, which asks
/// for GLIBCXX_3.4.32 only for the link-time marker std::ios_base_library_init() (no relocation uses it).
/// </summary>
public static class ElfVersionPatch
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    /// <summary>Returns true when the entry was found (and is now weak) in <paramref name="elf"/>.</summary>
    public static bool MarkVersionNeedWeak(byte[] elf, string versionName)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("Only little-endian ELF64 is supported.");
        var span = elf.AsSpan();
        var shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        var found = false;
        for (var i = 0; i < shnum; i++)
        {
            var sh = span[(int)(shoff + (long)i * shentsize)..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed) continue;
            var offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(sh[0x18..]);
            var link = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x28..]);
            var count = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x2C..]);
            var strtab = span[(int)(shoff + (long)link * shentsize)..];
            var strOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(strtab[0x18..]);

            var need = offset;
            for (var n = 0; n < count; n++)
            {
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(span[(int)(need + 2)..]);
                var aux = need + BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(need + 8)..]);
                for (var a = 0; a < auxCount; a++)
                {
                    var nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(aux + 8)..]);
                    if (ReadCString(span, strOffset + nameOffset) == versionName)
                    {
                        var flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(int)(aux + 4)..]);
                        BinaryPrimitives.WriteUInt16LittleEndian(span[(int)(aux + 4)..], (ushort)(flags | VerFlagWeak));
                        found = true;
                    }
                    var nextAux = BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(aux + 12)..]);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                var next = BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(need + 12)..]);
                if (next == 0) break;
                need += next;
            }
        }
        return found;
    }

    /// <summary>All version names an ELF file needs (for diagnostics and tests).</summary>
    public static bool NeedsVersion(byte[] elf, string versionName) => MarkVersionNeedWeak((byte[])elf.Clone(), versionName);

    private static string ReadCString(ReadOnlySpan<byte> data, long offset)
    {
        var start = (int)offset;
        var end = data[start..].IndexOf((byte)0);
        return Encoding.ASCII.GetString(data.Slice(start, end < 0 ? data.Length - start : end));
    }
}
