using BiasBench.Host.Configuration;
using BiasBench.Hub;

namespace BiasBench.Host.Tests.Configuration;

public class ModelWeightsResolverTests
{
    [Fact]
    public void Local_paths_win_then_catalog_names_and_repositories_resolve_to_their_cached_snapshot()
    {
        var dir = TestApp.TempDir();
        var hub = Path.Combine(dir, "hub");
        var model = ModelCatalog.Find("ddpm-celebahq-256")!;
        // A cache in the huggingface_hub layout holding every file of the model's repository.
        var cache = new HubCache(hub);
        const string commit = "0123456789abcdef0123456789abcdef01234567";
        cache.WriteRef(model.PrimaryRepo, "main", commit);
        foreach (var f in model.Files)
        {
            var path = cache.SnapshotPath(f.RepoId, commit, f.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "x");
        }
        var snapshot = cache.SnapshotDirectory(model.PrimaryRepo, commit);

        Assert.Equal(snapshot, ModelWeightsResolver.Resolve("ddpm-celebahq-256", dir, "ddpm", hub, out var m1));
        Assert.Null(m1);
        Assert.Equal(snapshot, ModelWeightsResolver.Resolve("google/ddpm-celebahq-256", dir, "ddpm", hub, out _));

        var local = Directory.CreateDirectory(Path.Combine(dir, "google", "ddpm-celebahq-256")).FullName;
        Assert.Equal(local, ModelWeightsResolver.Resolve("google/ddpm-celebahq-256", dir, "ddpm", hub, out _));

        Assert.Null(ModelWeightsResolver.Resolve("stable-diffusion-v1-5", dir, "stable-diffusion", hub, out var m2));
        Assert.Contains("biasbench models download stable-diffusion-v1-5", m2);
        Assert.Null(ModelWeightsResolver.Resolve("../models/pickscore", dir, "pickscore", hub, out var m3));
        Assert.Contains("biasbench models download pickscore --local-dir", m3);
        Assert.Null(ModelWeightsResolver.Resolve("../models/pickscore/vocab.json", dir, "hps-v2.1", hub, out var m4));
        Assert.Contains("biasbench models download pickscore --local-dir", m4);
    }
}
