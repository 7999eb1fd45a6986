using System.Text;

namespace BiasBench.Host.Runs;

/// <summary>
/// A line file that several processes append to at once (the shards of a run sharing one cache directory, possibly on
/// NFS or Lustre). Every record is written with one write call, at the end of the file as it is at that moment, while
/// the writer holds an exclusive byte-range lock on the file (fcntl, which NFS and Lustre honour across nodes); readers
/// take the same lock, so nobody sees another process's half-written line. A line left without its newline by a process
/// killed mid-write is closed before the next record, under the same lock.
/// POSIX record locks belong to the process, and closing any descriptor of the file drops them all; so a process
/// shares one handle per file between all its users and serialises them with an in-process lock.
/// </summary>
public sealed class SharedAppendFile : IDisposable
{
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(2);
    private static readonly Dictionary<string, Handle> Open_ = new(StringComparer.Ordinal);
    private readonly Handle _handle;
    private bool _disposed;

    private SharedAppendFile(Handle handle) => _handle = handle;

    public string Path => _handle.Path;

    /// <summary>Opens (creating if needed) the file for shared appending; dispose to release this process's use of it.</summary>
    public static SharedAppendFile Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        lock (Open_)
        {
            if (!Open_.TryGetValue(full, out var handle))
            {
                // Unbuffered: each Write is one write(2) call, nothing waits in a managed buffer.
                var stream = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
                Open_[full] = handle = new Handle(full, stream);
            }
            handle.Users++;
            return new SharedAppendFile(handle);
        }
    }

    /// <summary>
    /// Every line in the file. <paramref name="tornTail"/> is true when the last line has no newline (a writer was
    /// killed mid-write); that line is returned too, and callers treat it as unreadable.
    /// </summary>
    public List<string> ReadAllLines(out bool tornTail)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_handle)
        {
            using var fileLock = LockFile();
            var stream = _handle.Stream;
            var length = stream.Length;
            stream.Position = 0;
            var lines = new List<string>();
            using (var reader = new StreamReader(stream, new UTF8Encoding(false), false, 1 << 16, leaveOpen: true))
                while (reader.ReadLine() is { } line) lines.Add(line);
            tornTail = length > 0 && LastByte(stream, length) != '\n';
            return lines;
        }
    }

    /// <summary>
    /// Reads every non-empty line, offering each to <paramref name="keep"/>; when it rejects some (unreadable lines, e.g.
    /// the torn line of a writer killed mid-write), the file is rewritten without them, in place and under the lock, so
    /// that processes appending to it at the same time keep writing to the same file. Returns the number dropped.
    /// </summary>
    public int ReadRepairing(Func<string, bool> keep)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_handle)
        {
            using var fileLock = LockFile();
            var stream = _handle.Stream;
            stream.Position = 0;
            var kept = new List<string>();
            var dropped = 0;
            using (var reader = new StreamReader(stream, new UTF8Encoding(false), false, 1 << 16, leaveOpen: true))
                while (reader.ReadLine() is { } line)
                {
                    if (line.Length == 0) continue;
                    if (keep(line)) kept.Add(line);
                    else dropped++;
                }
            if (dropped > 0)
            {
                var bytes = new UTF8Encoding(false).GetBytes(string.Concat(kept.Select(l => l + "\n")));
                stream.Position = 0;
                stream.Write(bytes);
                stream.SetLength(bytes.Length);
                stream.Flush(true);
            }
            return dropped;
        }
    }

    /// <summary>Appends one record (UTF-8, without its newline) as one line.</summary>
    public void AppendLine(string record)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (record.Contains('\n')) throw new ArgumentException("A record must not contain a newline.", nameof(record));
        var body = Encoding.UTF8.GetBytes(record);
        lock (_handle)
        {
            using var fileLock = LockFile();
            var stream = _handle.Stream;
            var end = stream.Length;
            var closeTornLine = end > 0 && LastByte(stream, end) != '\n';
            var bytes = new byte[body.Length + 1 + (closeTornLine ? 1 : 0)];
            if (closeTornLine) bytes[0] = (byte)'\n';
            body.CopyTo(bytes, closeTornLine ? 1 : 0);
            bytes[^1] = (byte)'\n';
            stream.Position = end;
            stream.Write(bytes);
            stream.Flush();
        }
    }

    private static int LastByte(FileStream stream, long length)
    {
        stream.Position = length - 1;
        return stream.ReadByte();
    }

    /// <summary>Takes the exclusive record lock (FileStream.Lock fails at once when another process holds it: retry).</summary>
    private FileRegionLock LockFile()
    {
        if (OperatingSystem.IsMacOS()) return new FileRegionLock(null); // no FileStream.Lock there: the in-process lock only
        var stream = _handle.Stream;
        var started = DateTime.UtcNow;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                // The whole (present and future) file: byte 0 to the largest offset.
                stream.Lock(0, long.MaxValue);
                return new FileRegionLock(stream);
            }
            catch (IOException) when (DateTime.UtcNow - started < LockTimeout)
            {
                Thread.Sleep(Math.Min(1 + attempt, 20));
            }
            catch (IOException e)
            {
                throw new IOException($"Could not lock {_handle.Path} for {LockTimeout.TotalMinutes:F0} minutes (another process holds it): {e.Message}", e);
            }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (Open_)
        lock (_handle)
        {
            if (--_handle.Users > 0) return;
            Open_.Remove(_handle.Path);
            _handle.Stream.Dispose();
        }
    }

    private sealed class Handle(string path, FileStream stream)
    {
        public string Path { get; } = path;
        public FileStream Stream { get; } = stream;
        public int Users { get; set; }
    }

    private readonly struct FileRegionLock(FileStream? stream) : IDisposable
    {
        public void Dispose()
        {
            if (stream is not null && !OperatingSystem.IsMacOS()) stream.Unlock(0, long.MaxValue);
        }
    }
}
