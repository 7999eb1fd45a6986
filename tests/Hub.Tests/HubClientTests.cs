using System.Security.Cryptography;
using System.Text;

namespace BiasBench.Hub.Tests;

public sealed class HubClientTests : IAsyncLifetime
{
    private const string Repo = "acme/reward-model";
    private readonly FakeHub _hub = new();
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "biasbench-hub-tests-" + Guid.NewGuid().ToString("N"));
    private readonly byte[] _weights = RandomBytes(300_000, seed: 1);
    private readonly byte[] _config = Encoding.UTF8.GetBytes("{\"projection_dim\": 1024}\n");

    public HubClientTests()
    {
        _hub.Add(Repo, "model.safetensors", _weights, lfs: true);
        _hub.Add(Repo, "config.json", _config, lfs: false);
        _hub.Add(Repo, "unet/diffusion_pytorch_model.bin", RandomBytes(5_000, seed: 2), lfs: true);
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await _hub.DisposeAsync();
        try { Directory.Delete(_cache, recursive: true); } catch (IOException) { }
    }

    private HubClient Client(string? token = null, bool offline = false, int attempts = 3, string? endpoint = null, bool noSymlinks = false) =>
        new(new HubOptions
        {
            Endpoint = endpoint ?? _hub.Endpoint, Token = token, CacheDirectory = _cache, Offline = offline,
            MaxAttempts = attempts, RequestTimeout = TimeSpan.FromSeconds(10), ReadTimeout = TimeSpan.FromSeconds(10), DisableSymlinks = noSymlinks,
        }, delay: (_, _) => Task.CompletedTask);

    private string RepoDir => Path.Combine(_cache, "models--acme--reward-model");
    private static string Sha256(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    private static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task Fresh_download_builds_the_huggingface_cache_layout()
    {
        using var client = Client(token: "hf_secret");
        var progress = new List<DownloadProgress>();
        var weights = await client.DownloadAsync(Repo, "model.safetensors", progress: new SyncProgress(progress.Add), ct: TestContext.Current.CancellationToken);
        var config = await client.DownloadAsync(Repo, "config.json", ct: TestContext.Current.CancellationToken);

        var sha = Sha256(_weights);
        var blob = Path.Combine(RepoDir, "blobs", sha);
        var pointer = Path.Combine(RepoDir, "snapshots", FakeHub.Commit, "model.safetensors");
        Assert.Equal(_weights, File.ReadAllBytes(blob));
        Assert.Equal(Path.Combine("..", "..", "blobs", sha), new FileInfo(pointer).LinkTarget); // relative symlink
        Assert.Equal(_weights, File.ReadAllBytes(pointer));
        Assert.Equal(FakeHub.Commit, File.ReadAllText(Path.Combine(RepoDir, "refs", "main")));
        Assert.Empty(Directory.GetFiles(Path.Combine(RepoDir, "blobs"), "*.incomplete"));

        Assert.Equal(pointer, weights.Path);
        Assert.Equal(blob, weights.BlobPath);
        Assert.Equal((HubFileSource.Downloaded, true, sha, FakeHub.Commit, (long)_weights.Length),
            (weights.Source, weights.Verified, weights.Etag, weights.CommitHash, weights.Size));

        // The non-LFS file is keyed by its git blob id.
        var gitSha = Checksums.GitBlobSha1(_config);
        Assert.Equal(gitSha, config.Etag);
        Assert.True(config.Verified);
        Assert.Equal(_config, File.ReadAllBytes(Path.Combine(RepoDir, "blobs", gitSha)));

        // HEAD did not follow the CDN redirect; the token went to the hub only, never to the CDN host.
        Assert.Equal(0, _hub.Count("cdn", "HEAD"));
        Assert.All(_hub.Requests.Where(r => r.Server == "hub"), r => Assert.Equal("Bearer hf_secret", r.Authorization));
        var cdnGets = _hub.Gets("cdn").ToList();
        Assert.Single(cdnGets);
        Assert.Null(cdnGets[0].Authorization);
        Assert.Contains(progress, p => p.Stage == DownloadStage.Verifying);
        Assert.Equal((DownloadStage.Completed, (long)_weights.Length), (progress[^1].Stage, progress[^1].BytesDone));
    }

    [Fact]
    public async Task Nested_file_gets_a_relative_link_from_its_subfolder()
    {
        using var client = Client();
        var file = await client.DownloadAsync(Repo, "unet/diffusion_pytorch_model.bin", ct: TestContext.Current.CancellationToken);
        var expected = Path.Combine(RepoDir, "snapshots", FakeHub.Commit, "unet", "diffusion_pytorch_model.bin");
        Assert.Equal(expected, file.Path);
        Assert.StartsWith(Path.Combine("..", "..", "..", "blobs") + Path.DirectorySeparatorChar, new FileInfo(expected).LinkTarget);
        Assert.True(File.Exists(expected));
    }

    [Fact]
    public async Task Second_call_uses_the_cache_without_a_GET()
    {
        using var client = Client();
        await client.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);
        var getsBefore = _hub.Gets("cdn").Count() + _hub.Gets("hub").Count();
        var headsBefore = _hub.Count("hub", "HEAD");

        var again = await client.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);

        Assert.Equal(HubFileSource.Cache, again.Source);
        Assert.Equal(getsBefore, _hub.Gets("cdn").Count() + _hub.Gets("hub").Count());
        Assert.Equal(headsBefore + 1, _hub.Count("hub", "HEAD")); // still asks which commit 'main' is
        Assert.Equal(_weights, File.ReadAllBytes(again.Path));
    }

    [Fact]
    public async Task Existing_blob_is_linked_without_downloading()
    {
        using var client = Client();
        var blob = Path.Combine(RepoDir, "blobs", Sha256(_weights));
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        File.WriteAllBytes(blob, _weights);

        var file = await client.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);

        Assert.Equal(HubFileSource.Cache, file.Source);
        Assert.Empty(_hub.Gets("cdn"));
        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
    }

    [Fact]
    public async Task Dropped_connection_is_resumed_with_a_range_request()
    {
        _hub.DropAfterBytesOnce = 120_000;
        using var client = Client();
        var progress = new List<DownloadProgress>();
        var file = await client.DownloadAsync(Repo, "model.safetensors", progress: new SyncProgress(progress.Add), ct: TestContext.Current.CancellationToken);

        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
        Assert.True(file.Verified);
        var gets = _hub.Gets("cdn").ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.Equal("bytes=120000-", gets[1].Range);
        Assert.Contains(progress, p => p.Stage == DownloadStage.Retrying && p.BytesDone == 120_000);
    }

    [Fact]
    public async Task Interrupted_run_leaves_an_incomplete_file_that_the_next_run_resumes()
    {
        _hub.CutAtOffset = 100_000;
        using (var failing = Client(attempts: 2))
        {
            var e = await Assert.ThrowsAsync<HubNetworkException>(() => failing.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken));
            Assert.Contains("run the command again to resume", e.Message);
        }
        var incomplete = Path.Combine(RepoDir, "blobs", Sha256(_weights) + ".incomplete");
        // The first response was cut at 100,000 bytes, the resumed one brought nothing, then the attempts ran out.
        Assert.Equal(100_000, new FileInfo(incomplete).Length);

        _hub.CutAtOffset = null;
        using var client = Client();
        var file = await client.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);
        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
        Assert.Equal("bytes=100000-", _hub.Gets("cdn").Last().Range);
        Assert.False(File.Exists(incomplete));
    }

    [Fact]
    public async Task Server_that_ignores_the_range_makes_the_download_restart()
    {
        var incomplete = Path.Combine(RepoDir, "blobs", Sha256(_weights) + ".incomplete");
        Directory.CreateDirectory(Path.GetDirectoryName(incomplete)!);
        File.WriteAllBytes(incomplete, RandomBytes(70_000, seed: 99)); // a stale partial file with the wrong bytes
        _hub.IgnoreRange = true;

        using var client = Client();
        var file = await client.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);

        Assert.Equal("bytes=70000-", _hub.Gets("cdn").Single().Range);
        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
    }

    [Theory]
    [InlineData("model.safetensors", "sha256")]
    [InlineData("config.json", "git blob sha1")]
    public async Task Checksum_mismatch_deletes_the_partial_file_and_names_both_digests(string filename, string algorithm)
    {
        var real = _hub.Files[(Repo, filename)];
        var corrupt = (byte[])real.Content.Clone();
        corrupt[^1] ^= 0xFF;
        _hub.Corrupt = corrupt;
        using var client = Client();

        var e = await Assert.ThrowsAsync<HubChecksumException>(() => client.DownloadAsync(Repo, filename, ct: TestContext.Current.CancellationToken));

        var actual = algorithm == "sha256" ? Sha256(corrupt) : Checksums.GitBlobSha1(corrupt);
        Assert.Contains($"{Repo}/{filename}", e.Message);
        Assert.Contains(real.Etag, e.Message);
        Assert.Contains(actual, e.Message);
        Assert.Contains(algorithm, e.Message);
        Assert.Equal((real.Etag, actual), (e.Expected, e.Actual));
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(RepoDir, "blobs")), f => !f.EndsWith(".lock"));
        Assert.False(File.Exists(Path.Combine(RepoDir, "snapshots", FakeHub.Commit, filename)));
    }

    [Fact]
    public async Task Unauthorized_without_token_says_to_set_HF_TOKEN_and_works_with_it()
    {
        _hub.RequiredToken = "hf_good";
        using (var anonymous = Client())
        {
            var e = await Assert.ThrowsAsync<HubAuthenticationException>(() => anonymous.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken));
            Assert.Equal(401, e.StatusCode);
            Assert.Contains("Set HF_TOKEN", e.Message);
            Assert.Contains(Repo, e.Message);
        }
        using (var wrong = Client(token: "hf_bad"))
        {
            var e = await Assert.ThrowsAsync<HubAuthenticationException>(() => wrong.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken));
            Assert.Equal(403, e.StatusCode);
            Assert.Contains("refused the token in HF_TOKEN", e.Message);
        }
        using var good = Client(token: "hf_good");
        var file = await good.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);
        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
        Assert.Null(_hub.Gets("cdn").Single().Authorization);
    }

    [Fact]
    public async Task Gated_repository_says_to_accept_the_conditions()
    {
        _hub.RequiredToken = "hf_good";
        _hub.Gated = true;
        using var anonymous = Client();
        var e = await Assert.ThrowsAsync<HubAuthenticationException>(() => anonymous.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken));
        Assert.Contains("gated", e.Message);
        Assert.Contains($"{_hub.Endpoint}/{Repo}", e.Message);
        Assert.Contains("HF_TOKEN", e.Message);
    }

    [Fact]
    public async Task Not_found_names_the_repository_file_or_revision()
    {
        using var client = Client();
        var ct = TestContext.Current.CancellationToken;

        var file = await Assert.ThrowsAsync<HubNotFoundException>(() => client.DownloadAsync(Repo, "missing.bin", ct: ct));
        Assert.Equal(HubNotFoundKind.Entry, file.Kind);
        Assert.Contains("'missing.bin'", file.Message);
        Assert.Contains(Repo, file.Message);
        Assert.Contains("'main'", file.Message);
        Assert.True(File.Exists(Path.Combine(RepoDir, ".no_exist", FakeHub.Commit, "missing.bin")));

        var revision = await Assert.ThrowsAsync<HubNotFoundException>(() => client.DownloadAsync(Repo, "config.json", "v9", ct: ct));
        Assert.Equal(HubNotFoundKind.Revision, revision.Kind);
        Assert.Contains("'v9'", revision.Message);

        var repo = await Assert.ThrowsAsync<HubNotFoundException>(() => client.DownloadAsync("acme/nope", "config.json", ct: ct));
        Assert.Equal(HubNotFoundKind.Repository, repo.Kind);
        Assert.Contains("'acme/nope'", repo.Message);
    }

    [Fact]
    public async Task Offline_mode_resolves_from_refs_and_snapshots_without_network()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var online = Client()) await online.DownloadAsync(Repo, "model.safetensors", ct: ct);
        var before = _hub.Requests.Count;

        using var offline = Client(offline: true);
        var file = await offline.DownloadAsync(Repo, "model.safetensors", ct: ct);
        Assert.Equal(HubFileSource.OfflineCache, file.Source);
        Assert.Equal(FakeHub.Commit, file.CommitHash);
        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
        var pinned = await offline.DownloadAsync(Repo, "model.safetensors", FakeHub.Commit, ct: ct);
        Assert.Equal(file.Path, pinned.Path);

        var missing = await Assert.ThrowsAsync<HubOfflineException>(() => offline.DownloadAsync(Repo, "config.json", ct: ct));
        Assert.Contains("HF_HUB_OFFLINE", missing.Message);
        Assert.Contains("config.json", missing.Message);
        var unknown = await Assert.ThrowsAsync<HubOfflineException>(() => offline.DownloadAsync("acme/other", "config.json", ct: ct));
        Assert.Contains("acme/other", unknown.Message);
        Assert.Equal(before, _hub.Requests.Count);
    }

    [Fact]
    public async Task Unreachable_hub_falls_back_to_the_cache_or_says_why_it_cannot()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var online = Client()) await online.DownloadAsync(Repo, "config.json", ct: ct);
        var closedPort = $"http://127.0.0.1:{FreePort()}";
        var waits = 0;
        using var client = new HubClient(new HubOptions { Endpoint = closedPort, CacheDirectory = _cache, MaxAttempts = 3 },
            delay: (_, _) => { Interlocked.Increment(ref waits); return Task.CompletedTask; });

        var cached = await client.DownloadAsync(Repo, "config.json", ct: ct);
        Assert.Equal(HubFileSource.OfflineCache, cached.Source);
        Assert.Equal(_config, File.ReadAllBytes(cached.Path));
        Assert.Equal(2, waits); // three attempts, two back-offs

        var e = await Assert.ThrowsAsync<HubOfflineException>(() => client.DownloadAsync(Repo, "model.safetensors", ct: ct));
        Assert.Contains("Could not reach", e.Message);
        Assert.Contains("after 3 attempt(s)", e.Message);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Equal(2, waits); // the same client does not wait through the retries again
    }

    [Fact]
    public async Task Server_errors_are_retried()
    {
        _hub.FailFirstRequests = 2;
        using var client = Client(attempts: 3);
        var file = await client.DownloadAsync(Repo, "config.json", ct: TestContext.Current.CancellationToken);
        Assert.Equal(_config, File.ReadAllBytes(file.Path));
        Assert.Equal(3, _hub.Count("hub", "HEAD"));

        _hub.FailFirstRequests = int.MaxValue;
        using var impatient = Client(attempts: 2);
        var e = await Assert.ThrowsAsync<HubException>(() => impatient.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken));
        Assert.Equal(503, e.StatusCode);
    }

    [Fact]
    public async Task Renamed_repository_redirect_is_followed_for_the_metadata()
    {
        _hub.Renamed["acme/old-name"] = Repo;
        using var client = Client();
        var file = await client.DownloadAsync("acme/old-name", "model.safetensors", ct: TestContext.Current.CancellationToken);
        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
        Assert.StartsWith(Path.Combine(_cache, "models--acme--old-name"), file.Path); // cached under the name that was asked for
    }

    [Fact]
    public async Task Without_symlinks_the_snapshot_holds_a_copy()
    {
        using var client = Client(noSymlinks: true);
        var file = await client.DownloadAsync(Repo, "model.safetensors", ct: TestContext.Current.CancellationToken);
        Assert.Null(new FileInfo(file.Path).LinkTarget);
        Assert.Equal(_weights, File.ReadAllBytes(file.Path));
        Assert.True(File.Exists(file.BlobPath ?? Path.Combine(RepoDir, "blobs", Sha256(_weights))));
    }

    [Fact]
    public async Task Local_directory_mode_writes_the_file_and_its_metadata()
    {
        var ct = TestContext.Current.CancellationToken;
        var local = Path.Combine(_cache, "local-out");
        using var client = Client();
        var request = new HubFileRequest(Repo, "unet/diffusion_pytorch_model.bin") { LocalDirectory = local };

        var file = await client.DownloadAsync(request, ct: ct);
        var target = Path.Combine(local, "unet", "diffusion_pytorch_model.bin");
        Assert.Equal(target, file.Path);
        Assert.Equal(_hub.Files[(Repo, "unet/diffusion_pytorch_model.bin")].Content, File.ReadAllBytes(target));
        Assert.Null(new FileInfo(target).LinkTarget);
        var meta = File.ReadAllLines(Path.Combine(local, ".cache", "huggingface", "download", "unet", "diffusion_pytorch_model.bin.metadata"));
        Assert.Equal(FakeHub.Commit, meta[0]);
        Assert.Equal(file.Etag, meta[1]);

        var gets = _hub.Gets("cdn").Count();
        var again = await client.DownloadAsync(request, ct: ct);
        Assert.Equal(HubFileSource.Cache, again.Source);
        Assert.Equal(gets, _hub.Gets("cdn").Count());
    }

    [Fact]
    public async Task Catalog_requests_download_through_the_same_client()
    {
        _hub.Add("acme/tokenizer", "vocab.json", "{}"u8.ToArray(), lfs: false);
        var model = new CatalogModel("demo", "test", [new(Repo, "config.json"), new("acme/tokenizer", "vocab.json")]);
        using var client = Client();
        var files = await client.DownloadAllAsync(model.Requests(revision: FakeHub.Commit), ct: TestContext.Current.CancellationToken);
        Assert.Equal(2, files.Count);
        Assert.Equal(FakeHub.Commit, files[0].Revision);
        Assert.Equal("main", files[1].Revision); // the override only applies to the primary repository
        Assert.False(File.Exists(Path.Combine(RepoDir, "refs", FakeHub.Commit))); // a commit hash gets no ref file
        Assert.True(File.Exists(Path.Combine(_cache, "models--acme--tokenizer", "refs", "main")));
    }

    [Theory]
    [InlineData("../evil", "config.json")]
    [InlineData("acme/model", "../../etc/passwd")]
    [InlineData("acme/model", "/abs.bin")]
    [InlineData("a--b/model", "x")]
    public async Task Invalid_repository_ids_and_paths_are_rejected(string repo, string file)
    {
        using var client = Client();
        await Assert.ThrowsAsync<ArgumentException>(() => client.DownloadAsync(repo, file, ct: TestContext.Current.CancellationToken));
        Assert.Empty(_hub.Requests);
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; tests need the reports in order, synchronously.</summary>
    private sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) { lock (this) report(value); }
    }
}
