using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace BiasBench.Networks.Tests.Diffusion;

/// <summary>
/// Test-only writer of a state dict in <c>torch.save</c>'s zip format (PyTorch >= 1.6), so that the <c>.bin</c> path
/// of the diffusers loader can be tested without torch on this machine. It writes what <c>torch.save(state_dict)</c>
/// writes for contiguous tensors: records <c>&lt;stem&gt;/data.pkl</c> (protocol 2: a dict of
/// <c>torch._utils._rebuild_tensor_v2(persistent_id(('storage', torch.XStorage, key, 'cpu', numel)), 0, size, stride,
/// False, collections.OrderedDict())</c>), <c>.format_version</c>, <c>.storage_alignment</c>, <c>byteorder</c>,
/// <c>data/&lt;key&gt;</c>, <c>version</c>, <c>.data/serialization_id</c>, stored uncompressed. It is checked against a
/// real torch.save'd file in <see cref="TorchZipCheckpointWriterTests"/>. Not done: views sharing a storage, and the
/// 64-byte alignment of data records (our reader and Python's zipfile do not need it).
/// </summary>
internal static class TorchZipCheckpointWriter
{
    public static void Save(string path, IReadOnlyList<KeyValuePair<string, Tensor>> stateDict)
    {
        var stem = Path.GetFileNameWithoutExtension(path); // torch.save names the archive folder after the file
        var storages = new List<byte[]>();
        var pickle = new PickleWriter();
        pickle.Proto();
        pickle.EmptyDict();
        for (var batch = 0; batch < stateDict.Count; batch += 1000) // Python's pickler writes SETITEMS per 1000 items
        {
            pickle.Mark();
            foreach (var (name, tensor) in stateDict.Skip(batch).Take(1000))
            {
                using var contiguous = tensor.detach().cpu().contiguous();
                var key = storages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                storages.Add(contiguous.bytes.ToArray());
                pickle.String(name);
                pickle.Global("torch._utils", "_rebuild_tensor_v2");
                pickle.Mark();
                pickle.Mark();
                pickle.String("storage");
                pickle.Global("torch", StorageName(contiguous.dtype, name));
                pickle.String(key);
                pickle.String("cpu");
                pickle.Int(contiguous.NumberOfElements);
                pickle.TupleFromMark();
                pickle.PersistentId();
                pickle.Int(0);
                pickle.Tuple(contiguous.shape);
                pickle.Tuple(contiguous.stride());
                pickle.False();
                pickle.Global("collections", "OrderedDict");
                pickle.EmptyTuple();
                pickle.Reduce();
                pickle.TupleFromMark();
                pickle.Reduce();
            }
            pickle.SetItems();
        }
        pickle.Stop();

        using var archive = ZipFile.Open(path, ZipArchiveMode.Create);
        void Record(string name, byte[] bytes)
        {
            var entry = archive.CreateEntry($"{stem}/{name}", CompressionLevel.NoCompression);
            using var stream = entry.Open();
            stream.Write(bytes);
        }
        Record("data.pkl", pickle.ToArray());
        Record(".format_version", "1"u8.ToArray());
        Record(".storage_alignment", "64"u8.ToArray());
        Record("byteorder", "little"u8.ToArray());
        for (var i = 0; i < storages.Count; i++) Record($"data/{i}", storages[i]);
        Record("version", "3\n"u8.ToArray());
        Record(".data/serialization_id", Encoding.ASCII.GetBytes(new string('0', 40)));
    }

    private static string StorageName(ScalarType dtype, string name) => dtype switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new NotSupportedException($"'{name}': dtype {dtype} has no legacy storage class."),
    };

    /// <summary>The protocol-2 opcodes torch.save's pickler emits for a state dict, memoising as Python does
    /// (every string, global and non-empty tuple gets a BINPUT; a repeated string or global a BINGET).</summary>
    private sealed class PickleWriter
    {
        private readonly MemoryStream _out = new();
        private readonly Dictionary<string, int> _memo = new(StringComparer.Ordinal);
        private int _next;

        public byte[] ToArray() => _out.ToArray();
        public void Proto() { _out.WriteByte(0x80); _out.WriteByte(2); }
        public void EmptyDict() { _out.WriteByte((byte)'}'); Put(); }
        public void Mark() => _out.WriteByte((byte)'(');
        public void SetItems() => _out.WriteByte((byte)'u');
        public void Stop() => _out.WriteByte((byte)'.');
        public void PersistentId() => _out.WriteByte((byte)'Q');
        public void False() => _out.WriteByte(0x89);
        public void EmptyTuple() => _out.WriteByte((byte)')');
        public void Reduce() { _out.WriteByte((byte)'R'); Put(); }
        public void TupleFromMark() { _out.WriteByte((byte)'t'); Put(); }

        public void String(string value)
        {
            if (Get("s:" + value)) return;
            var bytes = Encoding.UTF8.GetBytes(value);
            _out.WriteByte((byte)'X');
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)bytes.Length);
            _out.Write(length);
            _out.Write(bytes);
            Put("s:" + value);
        }

        public void Global(string module, string name)
        {
            if (Get("g:" + module + "." + name)) return;
            _out.WriteByte((byte)'c');
            _out.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
            Put("g:" + module + "." + name);
        }

        public void Int(long value)
        {
            Span<byte> buffer = stackalloc byte[8];
            if (value is >= 0 and < 256) { _out.WriteByte((byte)'K'); _out.WriteByte((byte)value); }
            else if (value is >= 0 and < 65536) { _out.WriteByte((byte)'M'); BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)value); _out.Write(buffer[..2]); }
            else if (value is >= int.MinValue and <= int.MaxValue) { _out.WriteByte((byte)'J'); BinaryPrimitives.WriteInt32LittleEndian(buffer, (int)value); _out.Write(buffer[..4]); }
            else
            {
                // LONG1: little-endian two's complement, as short as Python makes it.
                var bytes = new System.Numerics.BigInteger(value).ToByteArray();
                _out.WriteByte(0x8a); _out.WriteByte((byte)bytes.Length); _out.Write(bytes);
            }
        }

        public void Tuple(long[] values)
        {
            if (values.Length == 0) { EmptyTuple(); return; }
            if (values.Length > 3) Mark();
            foreach (var v in values) Int(v);
            _out.WriteByte(values.Length switch { 1 => 0x85, 2 => 0x86, 3 => 0x87, _ => (byte)'t' });
            Put();
        }

        private bool Get(string key)
        {
            if (!_memo.TryGetValue(key, out var index)) return false;
            if (index < 256) { _out.WriteByte((byte)'h'); _out.WriteByte((byte)index); }
            else { _out.WriteByte((byte)'j'); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)index); _out.Write(b); }
            return true;
        }

        private void Put(string? key = null)
        {
            var index = _next++;
            if (key is not null) _memo[key] = index;
            if (index < 256) { _out.WriteByte((byte)'q'); _out.WriteByte((byte)index); }
            else { _out.WriteByte((byte)'r'); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)index); _out.Write(b); }
        }
    }
}
