using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace BiasBench.Hub.Tests;

public sealed record RecordedRequest(string Server, string Method, string Target, string? Authorization, string? Range);

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 that speaks the hub's download protocol: <c>/{repo}/resolve/{rev}/{file}</c>
/// answers HEAD/GET with X-Repo-Commit and the etag; LFS files are 302-redirected to a second listener (the "CDN", on
/// another port, i.e. another origin) that serves the bytes with Range support. Raw sockets so a test can cut a
/// response half way.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    public const string Commit = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

    private readonly TcpListener _hub = new(IPAddress.Loopback, 0);
    private readonly TcpListener _cdn = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private int _dropped, _failed;

    public sealed record RepoFile(byte[] Content, bool Lfs)
    {
        public string Sha256 => Convert.ToHexStringLower(SHA256.HashData(Content));
        public string GitSha1 => Checksums.GitBlobSha1(Content);
        public string Etag => Lfs ? Sha256 : GitSha1;
    }

    public FakeHub()
    {
        _hub.Start(); _cdn.Start();
        _loops.Add(AcceptLoop(_hub, "hub"));
        _loops.Add(AcceptLoop(_cdn, "cdn"));
    }

    public string Endpoint => $"http://127.0.0.1:{((IPEndPoint)_hub.LocalEndpoint).Port}";
    public int CdnPort => ((IPEndPoint)_cdn.LocalEndpoint).Port;

    public ConcurrentDictionary<(string Repo, string Path), RepoFile> Files { get; } = new();
    public HashSet<string> Branches { get; } = ["main"];
    /// <summary>Old repository name -> new name: answered with a relative 307 like a renamed repo on the hub.</summary>
    public Dictionary<string, string> Renamed { get; } = new();
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>When set, every request to the hub must carry "Bearer {token}".</summary>
    public string? RequiredToken { get; set; }
    public bool Gated { get; set; }
    /// <summary>The first download response is cut after this many body bytes.</summary>
    public int? DropAfterBytesOnce { get; set; }
    /// <summary>Every download response is cut when it reaches this offset of the file (a resume from there gets no byte).</summary>
    public int? CutAtOffset { get; set; }
    /// <summary>Answer 200 with the whole file even when a Range is asked for.</summary>
    public bool IgnoreRange { get; set; }
    /// <summary>Serve these bytes instead of the real content (the etag stays the real one).</summary>
    public byte[]? Corrupt { get; set; }
    /// <summary>The first N hub requests get a 503.</summary>
    public int FailFirstRequests { get; set; }

    public RepoFile Add(string repo, string path, byte[] content, bool lfs)
    {
        var f = new RepoFile(content, lfs);
        Files[(repo, path)] = f;
        return f;
    }

    public IEnumerable<RecordedRequest> Gets(string server) => Requests.Where(r => r.Server == server && r.Method == "GET");
    public int Count(string server, string method) => Requests.Count(r => r.Server == server && r.Method == method);

    private async Task AcceptLoop(TcpListener listener, string server)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    try { await Handle(socket, server); }
                    catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
                }
            });
        }
    }

    private async Task Handle(Socket socket, string server)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var head = await ReadHead(stream);
        if (head is null) return;
        var lines = head.Split("\r\n");
        var parts = lines[0].Split(' ');
        var (method, target) = (parts[0], parts[1]);
        var headers = lines.Skip(1).Where(l => l.Contains(':'))
            .Select(l => (Name: l[..l.IndexOf(':')].Trim(), Value: l[(l.IndexOf(':') + 1)..].Trim()))
            .GroupBy(h => h.Name, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.First().Value, StringComparer.OrdinalIgnoreCase);
        headers.TryGetValue("Authorization", out var auth);
        headers.TryGetValue("Range", out var range);
        Requests.Enqueue(new RecordedRequest(server, method, target, auth, range));

        if (server == "cdn") { await ServeCdn(stream, socket, method, target, range); return; }

        if (Interlocked.Increment(ref _failed) <= FailFirstRequests)
        {
            await Respond(stream, 503, "Service Unavailable", []);
            return;
        }
        var path = Uri.UnescapeDataString(target.Split('?')[0]);
        var at = path.IndexOf("/resolve/", StringComparison.Ordinal);
        if (at < 0) { await Respond(stream, 404, "Not Found", []); return; }
        var repo = path[1..at];
        if (Renamed.TryGetValue(repo, out var renamed))
        {
            await Respond(stream, 307, "Temporary Redirect", [("Location", $"/{renamed}{target[(at + 0)..]}")]);
            return;
        }
        var rest = target.Split('?')[0][(at + "/resolve/".Length)..];
        var slash = rest.IndexOf('/');
        var revision = Uri.UnescapeDataString(rest[..slash]);
        var file = Uri.UnescapeDataString(rest[(slash + 1)..]);

        if (RequiredToken is { } token && auth != $"Bearer {token}")
        {
            var status = auth is null ? 401 : 403;
            List<(string, string)> h = Gated
                ? [("X-Error-Code", "GatedRepo"), ("X-Error-Message", $"Access to model {repo} is restricted. You must have access to it and be authenticated to access it.")]
                : [("X-Error-Message", "Invalid credentials in Authorization header")];
            await Respond(stream, status, status == 401 ? "Unauthorized" : "Forbidden", h);
            return;
        }
        if (!Files.Keys.Any(k => k.Repo == repo))
        {
            await Respond(stream, 404, "Not Found", [("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found")]);
            return;
        }
        if (!Branches.Contains(revision) && revision != Commit)
        {
            await Respond(stream, 404, "Not Found", [("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", "Invalid rev id: " + revision)]);
            return;
        }
        if (!Files.TryGetValue((repo, file), out var f))
        {
            await Respond(stream, 404, "Not Found", [("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found"), ("X-Repo-Commit", Commit)]);
            return;
        }
        if (f.Lfs)
        {
            await Respond(stream, 302, "Found",
            [
                ("Location", $"http://127.0.0.1:{CdnPort}/lfs/{f.Sha256}?X-Amz-Signature=abc"),
                ("X-Repo-Commit", Commit), ("X-Linked-Etag", $"\"{f.Sha256}\""), ("X-Linked-Size", f.Content.Length.ToString()),
                ("ETag", "W/\"0000000000000000000000000000000000000000\""), // the pointer's etag: must not be used
            ]);
            return;
        }
        List<(string, string)> meta = [("X-Repo-Commit", Commit), ("ETag", $"\"{f.GitSha1}\"")];
        await ServeBytes(stream, socket, method, f.Content, range, meta);
    }

    private async Task ServeCdn(NetworkStream stream, Socket socket, string method, string target, string? range)
    {
        var sha = target.Split('?')[0].Split('/').Last();
        var f = Files.Values.FirstOrDefault(v => v.Lfs && v.Sha256 == sha);
        if (f is null) { await Respond(stream, 404, "Not Found", []); return; }
        await ServeBytes(stream, socket, method, f.Content, range, [("ETag", $"\"{sha}\"")]);
    }

    private async Task ServeBytes(NetworkStream stream, Socket socket, string method, byte[] content, string? range, List<(string, string)> extra)
    {
        var data = Corrupt ?? content;
        long start = 0;
        var status = 200;
        if (range is not null && !IgnoreRange && range.StartsWith("bytes=") && range.EndsWith('-'))
        {
            start = long.Parse(range[6..^1]);
            if (start >= data.Length)
            {
                await Respond(stream, 416, "Range Not Satisfiable", [("Content-Range", $"bytes */{data.Length}")]);
                return;
            }
            status = 206;
            extra = [.. extra, ("Content-Range", $"bytes {start}-{data.Length - 1}/{data.Length}")];
        }
        var body = data.AsMemory((int)start);
        extra = [.. extra, ("Accept-Ranges", "bytes")];
        await WriteHead(stream, status, status == 206 ? "Partial Content" : "OK", extra, body.Length);
        if (method == "HEAD") return;
        int? cut = CutAtOffset is { } at ? Math.Max(0, at - (int)start) : DropAfterBytesOnce is { } once && Interlocked.Exchange(ref _dropped, 1) == 0 ? once : null;
        if (cut is { } n && n < body.Length)
        {
            await stream.WriteAsync(body[..n]);
            await stream.FlushAsync();
            socket.LingerState = new LingerOption(true, 0); // reset: the client sees a broken download
            socket.Close();
            return;
        }
        await stream.WriteAsync(body);
    }

    private static Task Respond(NetworkStream stream, int status, string reason, List<(string, string)> headers) =>
        WriteHead(stream, status, reason, headers, 0);

    private static async Task WriteHead(NetworkStream stream, int status, string reason, List<(string Name, string Value)> headers, long contentLength)
    {
        var sb = new StringBuilder($"HTTP/1.1 {status} {reason}\r\n");
        foreach (var (name, value) in headers) sb.Append(name).Append(": ").Append(value).Append("\r\n");
        sb.Append("Content-Length: ").Append(contentLength).Append("\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    private static async Task<string?> ReadHead(NetworkStream stream)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one) == 0) return null;
            buffer.Add(one[0]);
            var n = buffer.Count;
            if (n >= 4 && buffer[n - 4] == '\r' && buffer[n - 3] == '\n' && buffer[n - 2] == '\r' && buffer[n - 1] == '\n')
                return Encoding.ASCII.GetString(buffer.ToArray(), 0, n - 4);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _hub.Stop(); _cdn.Stop();
        try { await Task.WhenAll(_loops); } catch (Exception) { }
        _stop.Dispose();
    }
}
