using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace BiasBench.Hub;

/// <summary>
/// Downloads single files from the Hugging Face hub the way <c>huggingface_hub.hf_hub_download</c> does: HEAD the
/// resolve URL without following the CDN redirect (to read X-Repo-Commit, the etag and the size), then GET the bytes
/// into <c>blobs/{etag}.incomplete</c> with resume, verify them against the etag and link the snapshot to the blob.
/// </summary>
public sealed class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private const int BufferSize = 1 << 20;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(150);

    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly Func<TimeSpan, CancellationToken, Task> _delay;
    private readonly Dictionary<string, bool> _symlinksWork = new(StringComparer.Ordinal);
    // Once the hub could not be reached, later files of the same batch go straight to the cache instead of
    // waiting through every retry again.
    private HubNetworkException? _unreachable;

    /// <param name="handler">For tests or proxies. It must not follow redirects itself (the client does, to keep the token off CDN hosts).</param>
    /// <param name="delay">Back-off wait (tests pass a no-op).</param>
    public HubClient(HubOptions? options = null, HttpMessageHandler? handler = null, Func<TimeSpan, CancellationToken, Task>? delay = null)
    {
        Options = options ?? HubOptions.FromEnvironment();
        if (!Uri.TryCreate(Options.Endpoint.TrimEnd('/'), UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
            throw new ArgumentException($"Hub endpoint '{Options.Endpoint}' is not an http(s) URL (check HF_ENDPOINT).");
        _endpoint = endpoint;
        Cache = new HubCache(Options.CacheDirectory);
        _delay = delay ?? Task.Delay;
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None, // sizes and ranges refer to the raw bytes
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        }, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd($"biasbench/{typeof(HubClient).Assembly.GetName().Version?.ToString(3) ?? "0"}");
    }

    public HubOptions Options { get; }
    public HubCache Cache { get; }

    /// <summary><c>{endpoint}/{repo}/resolve/{revision}/{file}</c> with the revision fully escaped ("refs/pr/1" -> "refs%2Fpr%2F1").</summary>
    public Uri FileUrl(string repoId, string filename, string revision = HubOptions.DefaultRevision) =>
        new($"{_endpoint.AbsoluteUri.TrimEnd('/')}/{repoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', filename.Split('/').Select(Uri.EscapeDataString))}");

    public Task<HubFile> DownloadAsync(string repoId, string filename, string revision = HubOptions.DefaultRevision,
        IProgress<DownloadProgress>? progress = null, CancellationToken ct = default) =>
        DownloadAsync(new HubFileRequest(repoId, filename) { Revision = revision }, progress, ct);

    /// <summary>Downloads several files one after the other (each one resumes and verifies on its own).</summary>
    public async Task<IReadOnlyList<HubFile>> DownloadAllAsync(IEnumerable<HubFileRequest> requests, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        var files = new List<HubFile>();
        foreach (var r in requests) files.Add(await DownloadAsync(r, progress, ct));
        return files;
    }

    /// <summary>Makes one file available locally and returns where it is; see the class remarks for the protocol.</summary>
    public async Task<HubFile> DownloadAsync(HubFileRequest request, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        Validate(request);
        return request.LocalDirectory is null
            ? await DownloadToCacheAsync(request, progress, ct)
            : await DownloadToLocalDirectoryAsync(request, progress, ct);
    }

    /// <summary>The cached copy of a file, or null; never touches the network.</summary>
    public string? TryGetCachedFile(string repoId, string filename, string revision = HubOptions.DefaultRevision) =>
        Cache.TryGetCachedFile(repoId, filename, revision);

    private async Task<HubFile> DownloadToCacheAsync(HubFileRequest request, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var (repo, file, revision) = (request.RepoId, request.Filename, request.Revision);
        if (Options.Offline) return FromCacheOrThrow(request, progress, reason: null);

        // A commit hash cannot move: a cached snapshot for it is final, so skip the round-trip (as huggingface_hub does).
        if (!request.ForceDownload && HubCache.IsCommitHash(revision) && Cache.TryGetCachedFile(repo, file, revision) is { } pinned)
            return Cached(request, pinned, revision, null, HubFileSource.OfflineCache, progress);

        if (_unreachable is not null) return FromCacheOrThrow(request, progress, _unreachable);
        Report(progress, request, DownloadStage.Resolving, 0, null);
        HubFileMetadata meta;
        try { meta = await GetMetadataAsync(repo, file, revision, ct); }
        catch (HubNetworkException e)
        {
            _unreachable = e;
            return FromCacheOrThrow(request, progress, e);
        }

        Cache.WriteRef(repo, revision, meta.CommitHash);
        var blob = Cache.BlobPath(repo, meta.Etag);
        var pointer = Cache.SnapshotPath(repo, meta.CommitHash, file);
        if (!request.ForceDownload)
        {
            if (File.Exists(pointer)) return Cached(request, pointer, meta.CommitHash, meta.Etag, HubFileSource.Cache, progress);
            if (File.Exists(blob))
            {
                Link(blob, pointer);
                return Cached(request, pointer, meta.CommitHash, meta.Etag, HubFileSource.Cache, progress);
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        using (await FileLock.AcquireAsync(Cache.LockPath(repo, meta.Etag), ct))
        {
            // Another process may have finished the same blob while we waited for the lock.
            if (request.ForceDownload || !File.Exists(blob))
            {
                var incomplete = Cache.IncompletePath(repo, meta.Etag);
                var verified = await FetchAsync(request, meta, incomplete, progress, ct);
                File.Move(incomplete, blob, overwrite: true); // atomic on the same file system
                Link(blob, pointer);
                Report(progress, request, DownloadStage.Completed, new FileInfo(blob).Length, meta.Size);
                return new HubFile(repo, file, revision, meta.CommitHash, meta.Etag, new FileInfo(blob).Length, pointer, blob, HubFileSource.Downloaded, verified);
            }
        }
        Link(blob, pointer);
        return Cached(request, pointer, meta.CommitHash, meta.Etag, HubFileSource.Cache, progress);
    }

    /// <summary>huggingface_hub's local_dir mode: the file lands at <c>{dir}/{file}</c>; <c>{dir}/.cache/huggingface/download/{file}.metadata</c> records "commit\netag\ntimestamp".</summary>
    private async Task<HubFile> DownloadToLocalDirectoryAsync(HubFileRequest request, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var (repo, file, revision) = (request.RepoId, request.Filename, request.Revision);
        var root = Path.GetFullPath(request.LocalDirectory!);
        var localPath = Path.Combine(root, HubCache.ToLocalPath(file));
        var metaPath = Path.Combine(root, ".cache", "huggingface", "download", HubCache.ToLocalPath(file) + ".metadata");
        var recorded = ReadLocalMetadata(metaPath);

        HubFile Local(string? commit, string? etag, HubFileSource source)
        {
            var length = new FileInfo(localPath).Length;
            Report(progress, request, DownloadStage.Cached, length, length);
            return new HubFile(repo, file, revision, commit ?? "", etag, length, localPath, null, source, false);
        }

        if (Options.Offline)
        {
            if (File.Exists(localPath)) return Local(recorded?.Commit, recorded?.Etag, HubFileSource.OfflineCache);
            throw new HubOfflineException($"HF_HUB_OFFLINE is set and {repo}/{file} is not in {root}; unset HF_HUB_OFFLINE to download it.");
        }
        if (!request.ForceDownload && HubCache.IsCommitHash(revision) && File.Exists(localPath) && recorded?.Commit == revision)
            return Local(recorded.Value.Commit, recorded.Value.Etag, HubFileSource.OfflineCache);

        Report(progress, request, DownloadStage.Resolving, 0, null);
        HubFileMetadata meta;
        try
        {
            if (_unreachable is not null) throw _unreachable;
            meta = await GetMetadataAsync(repo, file, revision, ct);
        }
        catch (HubNetworkException e)
        {
            _unreachable = e;
            if (File.Exists(localPath)) return Local(recorded?.Commit, recorded?.Etag, HubFileSource.OfflineCache);
            throw new HubOfflineException($"{e.Message} {repo}/{file} is not in {root} either.", e);
        }

        if (!request.ForceDownload && File.Exists(localPath))
        {
            if (recorded?.Etag == meta.Etag && (meta.Size is null || new FileInfo(localPath).Length == meta.Size))
                return Local(meta.CommitHash, meta.Etag, HubFileSource.Cache);
            // No or stale metadata (e.g. copied in by hand): keep the file if its content hashes to the etag.
            if (Checksums.DigestForEtagAsync(localPath, meta.Etag, null, ct) is { } digest && string.Equals(await digest, meta.Etag, StringComparison.OrdinalIgnoreCase))
            {
                WriteLocalMetadata(metaPath, meta);
                return Local(meta.CommitHash, meta.Etag, HubFileSource.Cache);
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(localPath)!);
        Directory.CreateDirectory(Path.GetDirectoryName(metaPath)!);
        var blob = Cache.BlobPath(repo, meta.Etag);
        bool verified = false;
        if (!request.ForceDownload && File.Exists(blob))
            File.Copy(blob, localPath, overwrite: true); // already in the shared cache: no need to fetch it again
        else
        {
            var incomplete = metaPath[..^".metadata".Length] + "." + meta.Etag + ".incomplete";
            verified = await FetchAsync(request, meta, incomplete, progress, ct);
            File.Move(incomplete, localPath, overwrite: true);
        }
        WriteLocalMetadata(metaPath, meta);
        var size = new FileInfo(localPath).Length;
        Report(progress, request, DownloadStage.Completed, size, meta.Size);
        return new HubFile(repo, file, revision, meta.CommitHash, meta.Etag, size, localPath, null,
            verified ? HubFileSource.Downloaded : HubFileSource.Cache, verified);
    }

    /// <summary>HEAD of the resolve URL. Follows relative redirects (renamed repositories) but not the CDN redirect.</summary>
    public async Task<HubFileMetadata> GetMetadataAsync(string repoId, string filename, string revision = HubOptions.DefaultRevision, CancellationToken ct = default)
    {
        if (Options.Offline) throw new HubOfflineException($"HF_HUB_OFFLINE is set: cannot ask {_endpoint} about {repoId}/{filename}.");
        var uri = FileUrl(repoId, filename, revision);
        var what = $"{repoId}/{filename} (revision {revision})";
        for (var hop = 0; ; hop++)
        {
            using var response = await SendAsync(HttpMethod.Head, uri, rangeStart: 0, what, ct);
            var status = (int)response.StatusCode;
            var location = response.Headers.Location;
            if (status is >= 300 and < 400 && location is not null && !location.IsAbsoluteUri && hop < MaxRedirects)
            {
                uri = new Uri(uri, location); // relative: same hub, e.g. a renamed repository
                continue;
            }
            if (status is >= 400 || status is >= 300 and < 400 && location is null)
            {
                if (status == 404 && Header(response, "X-Error-Code") == "EntryNotFound" && Header(response, "X-Repo-Commit") is { } c && HubCache.IsCommitHash(c))
                    MarkMissing(repoId, c, filename);
                throw StatusError(response, repoId, filename, revision, uri);
            }

            var commit = Header(response, "X-Repo-Commit")
                ?? throw new HubException($"{uri} answered without an X-Repo-Commit header: {_endpoint} does not look like a Hugging Face hub (check HF_ENDPOINT or your proxy).");
            var etagHeader = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.ToString() ?? Header(response, "ETag")
                ?? throw new HubException($"{uri} has no ETag: cannot identify the version of {what} to cache.");
            var etag = Checksums.NormalizeEtag(etagHeader);
            if (etag.Length == 0 || etag.IndexOfAny(['/', '\\', '\0']) >= 0 || etag is "." or "..")
                throw new HubException($"{uri} sent an unusable ETag '{etagHeader}' for {what}.");
            long? size = long.TryParse(Header(response, "X-Linked-Size"), NumberStyles.None, CultureInfo.InvariantCulture, out var linked) ? linked
                : response.Content.Headers.ContentLength;
            var download = status is >= 300 and < 400 ? new Uri(uri, location!) : uri;
            return new HubFileMetadata(commit, etag, size, download);
        }
    }

    /// <summary>GETs the bytes into <paramref name="incomplete"/>, resuming what is there; verifies size and checksum.</summary>
    /// <returns>True when the content was hashed against the etag.</returns>
    private async Task<bool> FetchAsync(HubFileRequest request, HubFileMetadata meta, string incomplete, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var display = $"{request.RepoId}/{request.Filename}";
        Directory.CreateDirectory(Path.GetDirectoryName(incomplete)!);
        WarnIfLowOnDisk(request, meta, incomplete, progress);
        var failures = 0;
        var buffer = new byte[BufferSize];
        while (true)
        {
            var have = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
            if (meta.Size is { } expected && have > expected) { File.Delete(incomplete); have = 0; }
            if (meta.Size is { } done && have == done && have > 0) break; // finished by an earlier, interrupted run
            try
            {
                await ReceiveAsync(request, meta, incomplete, have, buffer, progress, ct);
                break;
            }
            catch (Exception e) when (IsTransient(e, ct))
            {
                var now = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
                failures = now > have ? 1 : failures + 1; // reset when bytes arrived: only stalls count against the limit
                if (failures >= Options.MaxAttempts)
                    throw new HubNetworkException($"Downloading {display} failed {failures} times in a row ({Describe(e)}); {now} of {meta.Size?.ToString() ?? "?"} bytes are kept in {incomplete}; run the command again to resume.", e);
                var wait = Backoff(failures);
                Report(progress, request, DownloadStage.Retrying, now, meta.Size, $"{Describe(e)}; resuming from byte {now} in {wait.TotalSeconds:0.#}s");
                await _delay(wait, ct);
            }
        }

        var size = new FileInfo(incomplete).Length;
        if (meta.Size is { } want && size != want)
        {
            File.Delete(incomplete);
            throw new HubException($"Consistency check failed for {display}: the hub announced {want} bytes but {size} arrived. The partial file was deleted; run the command again.");
        }
        var kind = Checksums.Classify(meta.Etag);
        if (kind == EtagKind.Unknown) return false; // e.g. a non-hub etag: nothing to check against
        Report(progress, request, DownloadStage.Verifying, 0, size);
        var hashed = new ThrottledProgress(p => Report(progress, request, DownloadStage.Verifying, p, size));
        var actual = await Checksums.DigestForEtagAsync(incomplete, meta.Etag, hashed, ct)!;
        if (!string.Equals(actual, meta.Etag, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(incomplete);
            throw new HubChecksumException(display, meta.Etag.ToLowerInvariant(), actual, kind == EtagKind.Sha256 ? "sha256" : "git blob sha1");
        }
        return true;
    }

    private async Task ReceiveAsync(HubFileRequest request, HubFileMetadata meta, string incomplete, long have, byte[] buffer,
        IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var display = $"{request.RepoId}/{request.Filename}";
        using var response = await SendFollowingRedirectsAsync(meta.DownloadUri, have, display, ct);
        var status = (int)response.StatusCode;
        if (have > 0 && status == 416)
        {
            // The range starts past the end: the partial file does not belong to this content. Start over.
            File.Delete(incomplete);
            throw new HttpRequestException($"the server refused to resume at byte {have} (416)");
        }
        if (status >= 400) throw StatusError(response, request.RepoId, request.Filename, request.Revision, meta.DownloadUri);
        if (status is not (200 or 206)) throw new HubException($"Unexpected {status} {response.ReasonPhrase} for {display} from {Host(meta.DownloadUri)}.");

        var start = have;
        if (status == 200 && have > 0) start = 0; // the server ignored Range and sends everything: restart the file
        else if (status == 206 && response.Content.Headers.ContentRange is { } range && range.From != have)
            throw new HttpRequestException($"asked for bytes {have}- but the server sent a range starting at {range.From}");
        long? length = response.Content.Headers.ContentLength;
        var total = length is { } l ? start + l : meta.Size;
        if (meta.Size is { } announced && length is { } len && start + len != announced)
            throw new HubException($"{display}: the download would be {start + len} bytes but the hub announced {announced}.");

        await using var body = await response.Content.ReadAsStreamAsync(ct);
        FileStream file;
        try
        {
            file = new FileStream(incomplete, start == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.Read, BufferSize, FileOptions.Asynchronous);
        }
        catch (IOException e) { throw DiskError(e, incomplete); }
        await using (file)
        {
            var received = start;
            var lastReport = DateTime.MinValue;
            Report(progress, request, DownloadStage.Downloading, received, total);
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
            while (true)
            {
                stall.CancelAfter(Options.ReadTimeout);
                int n;
                try { n = await body.ReadAsync(buffer, stall.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new TimeoutException($"no data for {Options.ReadTimeout.TotalSeconds:0}s");
                }
                if (n == 0) break;
                try { await file.WriteAsync(buffer.AsMemory(0, n), ct); }
                catch (IOException e) { throw DiskError(e, incomplete); }
                received += n;
                if (DateTime.UtcNow - lastReport >= ProgressInterval)
                {
                    lastReport = DateTime.UtcNow;
                    Report(progress, request, DownloadStage.Downloading, received, total);
                }
            }
            try { await file.FlushAsync(ct); }
            catch (IOException e) { throw DiskError(e, incomplete); }
            Report(progress, request, DownloadStage.Downloading, received, total);
            if (total is { } t && received < t)
                throw new HttpRequestException($"connection closed after {received} of {t} bytes");
        }
    }

    /// <summary>GET with manual redirects: the token goes only to the hub's own origin, never to a CDN host.</summary>
    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(Uri uri, long rangeStart, string what, CancellationToken ct)
    {
        for (var hop = 0; ; hop++)
        {
            var response = await SendAsync(HttpMethod.Get, uri, rangeStart, what, ct);
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                response.Dispose();
                if (hop >= MaxRedirects) throw new HubException($"Too many redirects while downloading {what} (last: {Host(uri)}).");
                uri = new Uri(uri, location);
                continue;
            }
            return response;
        }
    }

    /// <summary>One request with retries for connection failures, header timeouts, 429 and 5xx. The caller disposes the response.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri uri, long rangeStart, string what, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(method, uri);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity")); // sizes must be of the stored bytes
            if (Options.Token is { Length: > 0 } token && SameOrigin(uri, _endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (rangeStart > 0) request.Headers.Range = new RangeHeaderValue(rangeStart, null);

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Options.RequestTimeout);
            Exception failure;
            try
            {
                var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                var code = (int)response.StatusCode;
                if (code is not (429 or >= 500) || attempt >= Options.MaxAttempts) return response;
                failure = new HttpRequestException($"{code} {response.ReasonPhrase} from {Host(uri)}");
                var retryAfter = response.Headers.RetryAfter?.Delta;
                response.Dispose();
                await _delay(retryAfter is { } ra && ra < Options.MaxRetryDelay * 4 ? ra : Backoff(attempt), ct);
                continue;
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                failure = new TimeoutException($"no answer from {Host(uri)} within {Options.RequestTimeout.TotalSeconds:0}s", e);
            }
            catch (HttpRequestException e) { failure = e; }

            if (attempt >= Options.MaxAttempts)
                throw new HubNetworkException($"Could not reach {Host(uri)} for {what} after {attempt} attempt(s): {Describe(failure)}. Check your connection, proxy or HF_ENDPOINT; HF_HUB_OFFLINE=1 uses cached files only.", failure);
            await _delay(Backoff(attempt), ct);
        }
    }

    private HubException StatusError(HttpResponseMessage response, string repo, string file, string revision, Uri uri)
    {
        var status = (int)response.StatusCode;
        var code = Header(response, "X-Error-Code");
        var serverMessage = Header(response, "X-Error-Message");
        var detail = serverMessage is null ? "" : $" (hub: {serverMessage})";
        var hubPage = $"{_endpoint.AbsoluteUri.TrimEnd('/')}/{repo}";
        var hasToken = Options.Token is { Length: > 0 };
        if (status is 401 or 403)
        {
            if (code == "RepoNotFound")
                return new HubNotFoundException(HubNotFoundKind.Repository,
                    $"Repository '{repo}' was not found on {Host(_endpoint)}, or it is private{(hasToken ? " and the token in HF_TOKEN has no access to it" : ": set HF_TOKEN to an access token that can read it")}{detail}.") { StatusCode = status };
            var gated = code == "GatedRepo" || serverMessage?.Contains("gated", StringComparison.OrdinalIgnoreCase) == true;
            var message = gated
                ? $"{repo} is a gated repository: accept its conditions at {hubPage} while logged in, then set HF_TOKEN to an access token of that account{(hasToken ? " (the token that was sent has no access yet)" : "")}"
                : hasToken
                    ? $"The hub refused the token in HF_TOKEN for {repo}/{file} ({status}): it is invalid, expired, or has no access to this private or gated repository"
                    : $"{repo}/{file} needs authentication ({status}: private or gated repository). Set HF_TOKEN to a Hugging Face access token (https://huggingface.co/settings/tokens)";
            return new HubAuthenticationException(message + detail + ".") { StatusCode = status };
        }
        if (status == 404)
        {
            return code switch
            {
                "RepoNotFound" => new HubNotFoundException(HubNotFoundKind.Repository, $"Repository '{repo}' not found on {Host(_endpoint)} (if it is private, set HF_TOKEN){detail}.") { StatusCode = 404 },
                "RevisionNotFound" => new HubNotFoundException(HubNotFoundKind.Revision, $"Revision '{revision}' not found in {repo}{detail}.") { StatusCode = 404 },
                _ => new HubNotFoundException(HubNotFoundKind.Entry, $"File '{file}' not found in {repo} at revision '{revision}' ({uri}){detail}.") { StatusCode = 404 },
            };
        }
        return new HubException($"{Host(uri)} answered {status} {response.ReasonPhrase} for {repo}/{file} (revision {revision}){detail}.") { StatusCode = status };
    }

    private HubFile FromCacheOrThrow(HubFileRequest request, IProgress<DownloadProgress>? progress, HubNetworkException? reason)
    {
        var (repo, file, revision) = (request.RepoId, request.Filename, request.Revision);
        var commit = Cache.ResolveCommit(repo, revision);
        if (commit is not null && Cache.TryGetCachedFile(repo, file, revision) is { } path)
        {
            if (reason is not null)
                Report(progress, request, DownloadStage.Cached, 0, null, $"hub unreachable ({reason.Message}); using the cached copy from commit {commit[..7]}");
            return Cached(request, path, commit, null, HubFileSource.OfflineCache, progress);
        }
        var where = commit is null
            ? $"the cache at {Cache.Directory} has no record of revision '{revision}' of {repo}"
            : File.Exists(Cache.NoExistPath(repo, commit, file))
                ? $"{file} does not exist in {repo} at commit {commit}"
                : $"{file} of {repo} (commit {commit}) is not in the cache at {Cache.Directory}";
        if (reason is null)
            throw new HubOfflineException($"HF_HUB_OFFLINE is set and {where}. Unset HF_HUB_OFFLINE (or run once online) to download it.");
        throw new HubOfflineException($"{reason.Message} Also, {where}.", reason);
    }

    private HubFile Cached(HubFileRequest request, string path, string commit, string? etag, HubFileSource source, IProgress<DownloadProgress>? progress)
    {
        var info = new FileInfo(path);
        var blob = info.LinkTarget is { } target ? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, target)) : null;
        etag ??= blob is null ? null : Path.GetFileName(blob);
        var length = info.Length;
        if (info.LinkTarget is not null) length = new FileInfo(blob!).Length; // FileInfo.Length of a link is the link's own size
        Report(progress, request, DownloadStage.Cached, length, length);
        return new HubFile(request.RepoId, request.Filename, request.Revision, commit, etag, length, path, blob, source, false);
    }

    private void Link(string blob, string pointer)
    {
        var root = Cache.Directory;
        var allow = !Options.DisableSymlinks && (!_symlinksWork.TryGetValue(root, out var works) || works);
        var linked = Cache.LinkSnapshot(blob, pointer, allow);
        if (allow) _symlinksWork[root] = linked;
    }

    private void MarkMissing(string repo, string commit, string file)
    {
        try
        {
            var marker = Cache.NoExistPath(repo, commit, file);
            Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
            File.WriteAllBytes(marker, []);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { } // only a hint for offline runs
    }

    private static (string Commit, string Etag)? ReadLocalMetadata(string path)
    {
        try
        {
            if (!File.Exists(path)) return null;
            var lines = File.ReadAllLines(path);
            return lines.Length >= 2 ? (lines[0].Trim(), lines[1].Trim()) : null;
        }
        catch (IOException) { return null; }
    }

    private static void WriteLocalMetadata(string path, HubFileMetadata meta)
    {
        var stamp = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000", CultureInfo.InvariantCulture);
        File.WriteAllText(path, $"{meta.CommitHash}\n{meta.Etag}\n{stamp}\n");
    }

    private static void WarnIfLowOnDisk(HubFileRequest request, HubFileMetadata meta, string incomplete, IProgress<DownloadProgress>? progress)
    {
        if (meta.Size is not { } size) return;
        try
        {
            var have = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
            var free = new DriveInfo(Path.GetDirectoryName(incomplete)!).AvailableFreeSpace;
            if (free > 0 && free < size - have)
                Report(progress, request, DownloadStage.Resolving, have, size,
                    $"only {FormatBytes(free)} free in {Path.GetDirectoryName(incomplete)} but {FormatBytes(size - have)} are still to come");
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException) { }
    }

    private static HubException DiskError(IOException e, string path)
    {
        // ENOSPC (28) / EDQUOT (122) on Unix, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows.
        var full = e.HResult is 28 or 122 or unchecked((int)0x80070070) or unchecked((int)0x80070027)
                   || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("quota", StringComparison.OrdinalIgnoreCase);
        return full
            ? new HubException($"The disk is full while writing {path}; free some space (or set HF_HUB_CACHE / --cache-dir to another disk) and run again to resume.", e)
            : new HubException($"Cannot write {path}: {e.Message}", e);
    }

    private static bool IsTransient(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e is HttpRequestException or TimeoutException || e is IOException and not HubException && !ct.IsCancellationRequested;

    private TimeSpan Backoff(int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(Options.MaxRetryDelay.TotalMilliseconds, Options.RetryDelay.TotalMilliseconds * Math.Pow(2, attempt - 1)));

    private static string Describe(Exception e) => e.InnerException is { } inner && e is HttpRequestException && inner.Message != e.Message
        ? $"{e.Message} ({inner.Message})" : e.Message;

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static string Host(Uri uri) => uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var v) || response.Content.Headers.TryGetValues(name, out v) ? v.FirstOrDefault() : null;

    private static void Report(IProgress<DownloadProgress>? progress, HubFileRequest r, DownloadStage stage, long done, long? total, string? message = null) =>
        progress?.Report(new DownloadProgress(r.RepoId, r.Filename, stage, done, total, message));

    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };

    private static void Validate(HubFileRequest r)
    {
        if (!HubCache.IsValidRepoId(r.RepoId))
            throw new ArgumentException($"'{r.RepoId}' is not a valid repository id (expected 'org/name').");
        if (string.IsNullOrWhiteSpace(r.Revision) || r.Revision.Split('/').Any(p => p is "" or "." or ".."))
            throw new ArgumentException($"'{r.Revision}' is not a valid revision.");
        HubCache.ToLocalPath(r.Filename); // throws for empty, absolute or escaping paths
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Calls the callback at most every <see cref="ProgressInterval"/> (hashing reports every megabyte).</summary>
    private sealed class ThrottledProgress(Action<long> report) : IProgress<long>
    {
        private DateTime _last = DateTime.MinValue;
        public void Report(long value)
        {
            if (DateTime.UtcNow - _last < ProgressInterval) return;
            _last = DateTime.UtcNow;
            report(value);
        }
    }
}
