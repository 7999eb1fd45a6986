using System.Security.Cryptography;
using System.Text;

namespace BiasBench.Hub.Tests;

public sealed class HubUnitTests
{
    [Fact]
    public void Git_blob_sha1_matches_git_hash_object()
    {
        // `printf 'hello\n' | git hash-object --stdin`
        Assert.Equal("ce013625030ba8dba906f756967f9e9ca394464a", Checksums.GitBlobSha1("hello\n"u8));
        // The empty blob id every git user has seen.
        Assert.Equal("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", Checksums.GitBlobSha1([]));
    }

    [Theory]
    [InlineData("\"abc\"", "abc")]
    [InlineData("W/\"abc\"", "abc")]
    [InlineData("abc", "abc")]
    public void Etags_lose_quotes_and_the_weak_prefix(string header, string expected) =>
        Assert.Equal(expected, Checksums.NormalizeEtag(header));

    [Fact]
    public void Etag_kind_follows_its_length()
    {
        Assert.Equal(EtagKind.Sha256, Checksums.Classify(new string('a', 64)));
        Assert.Equal(EtagKind.GitBlobSha1, Checksums.Classify(new string('0', 40)));
        Assert.Equal(EtagKind.Unknown, Checksums.Classify("abc-123"));
        Assert.Equal(EtagKind.Unknown, Checksums.Classify(new string('z', 64)));
    }

    [Fact]
    public async Task File_digests_match_the_in_memory_ones()
    {
        var path = Path.GetTempFileName();
        try
        {
            var content = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("biasbench ", 300_000)));
            await File.WriteAllBytesAsync(path, content, TestContext.Current.CancellationToken);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), await Checksums.Sha256Async(path, ct: TestContext.Current.CancellationToken));
            Assert.Equal(Checksums.GitBlobSha1(content), await Checksums.GitBlobSha1Async(path, ct: TestContext.Current.CancellationToken));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Options_read_the_huggingface_environment_variables()
    {
        var env = new Dictionary<string, string?>
        {
            ["HF_ENDPOINT"] = "https://hf-mirror.example/", ["HF_TOKEN"] = "hf_x", ["HF_HOME"] = "/data/hf", ["HF_HUB_OFFLINE"] = "yes",
        };
        var o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal(("https://hf-mirror.example", "hf_x", "/data/hf/hub", true), (o.Endpoint, o.Token, o.CacheDirectory, o.Offline));

        env["HF_HUB_CACHE"] = "/fast/cache";
        env["HF_HUB_OFFLINE"] = "0";
        o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal(("/fast/cache", false), (o.CacheDirectory, o.Offline));

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        o = HubOptions.FromEnvironment(k => k == "HF_HOME" ? "/nonexistent-hf-home" : null);
        Assert.Equal(HubOptions.DefaultEndpoint, o.Endpoint);
        Assert.Null(o.Token); // no token file in that HF_HOME
        Assert.Equal(Path.Combine(home, ".cache", "huggingface", "hub"), HubOptions.DefaultCacheDirectory(_ => null));
    }

    [Fact]
    public void Token_file_of_huggingface_cli_login_is_used()
    {
        var home = Path.Combine(Path.GetTempPath(), "hf-home-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        try
        {
            File.WriteAllText(Path.Combine(home, "token"), "hf_from_file\n");
            Assert.Equal("hf_from_file", HubOptions.FromEnvironment(k => k == "HF_HOME" ? home : null).Token);
            Assert.Equal("hf_env", HubOptions.FromEnvironment(k => k switch { "HF_HOME" => home, "HF_TOKEN" => "hf_env", _ => null }).Token);
        }
        finally { Directory.Delete(home, true); }
    }

    [Fact]
    public void Cache_paths_follow_huggingface_hub()
    {
        var cache = new HubCache("/c");
        Assert.Equal("models--laion--CLIP-ViT-H-14-laion2B-s32B-b79K", HubCache.RepoFolderName("laion/CLIP-ViT-H-14-laion2B-s32B-b79K"));
        Assert.Equal(Path.Combine("/c", "models--a--b", "snapshots", "c0", "unet", "config.json"), cache.SnapshotPath("a/b", "c0", "unet/config.json"));
        Assert.Equal(Path.Combine("/c", "models--a--b", "refs", "refs", "pr", "1"), cache.RefPath("a/b", "refs/pr/1"));
        Assert.Equal(Path.Combine("/c", "models--a--b", "blobs", "e1.incomplete"), cache.IncompletePath("a/b", "e1"));
    }

    [Fact]
    public void Resolve_url_escapes_the_revision_but_keeps_path_slashes()
    {
        using var client = new HubClient(new HubOptions { Endpoint = "https://huggingface.co/", CacheDirectory = Path.GetTempPath() });
        Assert.Equal("https://huggingface.co/org/m/resolve/refs%2Fpr%2F1/unet/a%20b.bin", client.FileUrl("org/m", "unet/a b.bin", "refs/pr/1").AbsoluteUri);
    }

    [Fact]
    public void Catalog_lists_the_reward_models_with_valid_repositories()
    {
        var names = ModelCatalog.All.Select(m => m.Name).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        foreach (var expected in new[] { "pickscore", "hps-v2", "hps-v2.1", "image-reward", "clip-score", "laion-aesthetic-v2", "ddpm-celebahq-256" })
            Assert.Contains(expected, names);
        Assert.All(ModelCatalog.All.SelectMany(m => m.Files), f =>
        {
            Assert.True(HubCache.IsValidRepoId(f.RepoId), f.RepoId);
            HubCache.ToLocalPath(f.Path);
        });
        var pick = ModelCatalog.Find("PickScore")!;
        Assert.Equal("yuvalkirstain/PickScore_v1", pick.PrimaryRepo);
        Assert.Contains(pick.Files, f => f.RepoId == "laion/CLIP-ViT-H-14-laion2B-s32B-b79K" && f.Path == "merges.txt");
        Assert.Equal("HPS_v2.1_compressed.pt", ModelCatalog.Find("hps-v2.1")!.Files[0].Path);
        Assert.Null(ModelCatalog.Find("nope"));
    }

    [Fact]
    public void Generators_are_found_by_name_or_by_their_hub_repository()
    {
        // 'biasbench models download google/ddpm-celebahq-256' fetches the catalog's files of that repository.
        Assert.Equal("ddpm-celebahq-256", ModelCatalog.Find("google/ddpm-celebahq-256")!.Name);
        var sd = ModelCatalog.Find("stable-diffusion-v1-5/stable-diffusion-v1-5")!;
        Assert.Equal("stable-diffusion-v1-5", sd.Name);
        foreach (var folder in new[] { "unet/", "vae/", "text_encoder/", "tokenizer/", "scheduler/" })
            Assert.Contains(sd.Files, f => f.Path.StartsWith(folder, StringComparison.Ordinal));
        Assert.Contains(sd.Files, f => f.Path == "model_index.json");
    }

    [Fact]
    public async Task Local_files_are_listed_with_their_sha256()
    {
        var dir = Path.Combine(Path.GetTempPath(), "hub-local-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "unet"));
        Directory.CreateDirectory(Path.Combine(dir, ".cache"));
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
            File.WriteAllText(Path.Combine(dir, "unet", "w.bin"), "abc");
            File.WriteAllText(Path.Combine(dir, ".cache", "ignored"), "x");
            var files = await LocalModelFiles.DescribeAsync(dir, TestContext.Current.CancellationToken);
            Assert.Equal(["config.json", "unet/w.bin"], files.Select(f => f.RelativePath));
            Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", files[1].Sha256); // sha256("abc")
            Assert.Equal(3, files[1].Size);

            var single = await LocalModelFiles.DescribeAsync(Path.Combine(dir, "config.json"), TestContext.Current.CancellationToken);
            Assert.Equal("config.json", Assert.Single(single).RelativePath);
            await Assert.ThrowsAsync<FileNotFoundException>(() => LocalModelFiles.DescribeAsync(Path.Combine(dir, "missing"), TestContext.Current.CancellationToken));
        }
        finally { Directory.Delete(dir, true); }
    }
}
