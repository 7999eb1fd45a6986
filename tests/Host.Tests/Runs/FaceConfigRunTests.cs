using System.Text.Json.Nodes;
using BiasBench.Abstractions;
using BiasBench.Host.Configuration;
using BiasBench.Host.Runs;
using BiasBench.TestSupport;

namespace BiasBench.Host.Tests.Runs;

/// <summary>
/// The shipped face configs end to end through the host: real face photos in a SCUT-FBP5500-style and a CelebA-style
/// folder (<see cref="FaceDataSets"/>), scored by the fixture reward models (tiny random networks, so the scores carry no
/// meaning; the plumbing does), joined to the ratings/attributes and analysed, with tables, figures and the report written.
/// </summary>
public sealed class FaceConfigRunTests : IDisposable
{
    private static string ConfigPath(string name) => Path.Combine(Fixtures.RepoRoot, "configs", name);

    private static readonly string[] Rewards = ["pickscore", "hps-v2", "image-reward"];

    private readonly List<string> _folders = [];

    /// <summary>The copied faces, runs and caches go once the test is done.</summary>
    public void Dispose()
    {
        foreach (var dir in _folders)
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } // a leftover temp folder is harmless
    }

    private string TempDir()
    {
        var dir = TestApp.TempDir();
        _folders.Add(dir);
        return dir;
    }

    private async Task<(RunStore Store, IReadOnlyList<StageOutput> Outputs)> Run(string config)
    {
        var dir = TempDir();
        var env = FaceDataSets.Build(dir);
        var loaded = ExperimentConfigLoader.Load(ConfigPath(config), name => env.GetValueOrDefault(name));
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        return await app.RunAsync(loaded, app.Plan(loaded), false, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Scut_config_scores_every_face_and_correlates_the_rating_per_group_and_on_the_test_split()
    {
        var (store, outputs) = await Run("scut-beauty-vs-rewards.yaml");
        var faces = FaceDataSets.ScutGroups.Length * FaceDataSets.ScutPerGroup;
        Assert.Equal(faces, outputs.Single(o => o.Stage.Id == "faces").Images.Count);
        foreach (var score in outputs.Where(o => o.Stage.Kind == StageKind.Score))
        {
            Assert.Equal(0, score.ItemsFailed);
            Assert.Equal(faces, score.Primary!.RowCount);
            Assert.All(score.Primary.Text("prompt").Values, p => Assert.Equal("a photo of a face", p));
        }

        // All faces: the three score tables and the labels join on every row; every group comes out with its 6 faces.
        var all = outputs.Single(o => o.Stage.Id == "beauty-vs-rewards");
        var correlations = all.Tables.Single(t => t.Name == "rating_correlations");
        AssertScopes(correlations, faces, FaceDataSets.ScutPerGroup);
        var ratings = Enumerable.Range(0, faces).Select(FaceDataSets.ScutRating).ToArray();
        var pick = outputs.Single(o => o.Stage.Id == "pickscore").Primary!;
        var expected = Statistics.Correlation.Pearson(ratings, pick.Numeric("pickscore").Values).R; // rows in file order: AF1..CM6
        Assert.Equal(expected, correlations.Numeric("pearson_r")[Row(correlations, "pickscore", "all")], 12);
        Assert.Equal(Rewards.Length * 6, all.Tables.Single(t => t.Name == "rating_group_differences").RowCount);
        Assert.Equal(Rewards.Length, all.Tables.Single(t => t.Name == "rating_partial_correlations").RowCount);
        Assert.Contains(all.Findings, f => f.Text.StartsWith("Ranked by how closely the score follows beauty", StringComparison.Ordinal));

        // The official test split: 4 faces per group here, joined to the scores of all faces.
        var split = outputs.Single(o => o.Stage.Id == "beauty-vs-rewards-test-split");
        AssertScopes(split.Tables.Single(t => t.Name == "rating_correlations"), FaceDataSets.ScutTestPerGroup * 4, FaceDataSets.ScutTestPerGroup);
        Assert.Contains(split.Warnings, w => w.Contains("have no match", StringComparison.Ordinal));

        foreach (var file in new[]
                 {
                     "tables/beauty-vs-rewards-rating_correlations.csv", "tables/beauty-vs-rewards-rating_slopes.parquet",
                     "tables/beauty-vs-rewards-test-split-rating_group_homogeneity.md", "tables/by-group-group_summary.csv",
                     "figures/beauty-vs-rewards-rating-scatter.png", "figures/beauty-vs-rewards-rating-scatter.svg",
                     "figures/beauty-vs-rewards-test-split-rating-scatter.png", "report.md", "report.html",
                 })
            Assert.True(File.Exists(Path.Combine(store.Directory, file)), $"{file} was not written ({string.Join(", ", Directory.GetFiles(store.Directory, "*", SearchOption.AllDirectories).Select(store.Relative))})");
        Assert.Contains("Ranked by how closely the score follows beauty", File.ReadAllText(Path.Combine(store.Directory, "report.md")));
        Assert.Equal("completed", JsonNode.Parse(File.ReadAllText(store.ManifestFile))!["status"]!.GetValue<string>());
    }

    private static void AssertScopes(DataTable correlations, int total, int perGroup)
    {
        foreach (var reward in Rewards)
        {
            Assert.Equal(total, (int)correlations.Numeric("n")[Row(correlations, reward, "all")]);
            foreach (var group in FaceDataSets.ScutGroups)
            {
                var r = Row(correlations, reward, group);
                Assert.Equal(perGroup, (int)correlations.Numeric("n")[r]);
                Assert.True(double.IsFinite(correlations.Numeric("pearson_r")[r]) || correlations.Text("note")[r] is not null);
            }
        }
        Assert.Equal(Rewards.Length * (FaceDataSets.ScutGroups.Length + 1), correlations.RowCount);
    }

    private static int Row(DataTable t, string reward, string scope) =>
        Enumerable.Range(0, t.RowCount).Single(r => t.Text("reward")[r] == reward && t.Text("scope")[r] == scope);

    [Fact]
    public async Task Celeba_config_scores_every_face_and_feeds_attribute_bias()
    {
        var (store, outputs) = await Run("celeba-rewards.yaml");
        Assert.Equal(FaceDataSets.CelebAFaces, outputs.Single(o => o.Stage.Id == "faces").Images.Count);
        var analysis = outputs.Single(o => o.Stage.Id == "attribute-bias");
        var correlations = analysis.Tables.Single(t => t.Name == "attribute_correlations");
        Assert.Equal(Rewards.Length * FaceDataSets.CelebAAttributes.Length, correlations.RowCount);
        Assert.All(correlations.Numeric("n").Values, n => Assert.Equal(FaceDataSets.CelebAFaces, (int)n));
        Assert.Equal(Rewards.ToHashSet(), correlations.Text("reward").Values.Select(v => v!).ToHashSet());
        Assert.Equal(FaceDataSets.CelebAAttributes.ToHashSet(), correlations.Text("attribute").Values.Select(v => v!).ToHashSet());
        Assert.Contains(analysis.Tables, t => t.Name == "partial_correlations");
        Assert.Contains(analysis.Tables, t => t.Name == "stratified_correlations");
        foreach (var file in new[] { "tables/attribute-bias-attribute_correlations.csv", "figures/attribute-bias-attribute-correlations.png", "figures/attribute-bias-attribute-heatmap.svg", "report.md" })
            Assert.True(File.Exists(Path.Combine(store.Directory, file)), $"{file} was not written");
        Assert.Equal("completed", JsonNode.Parse(File.ReadAllText(store.ManifestFile))!["status"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("scut-beauty-vs-rewards.yaml", "https://github.com/HCIILAB/SCUT-FBP5500-Database-Release", "Images/")]
    [InlineData("celeba-rewards.yaml", "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html", "img_align_celeba/")]
    public async Task Without_the_data_the_run_stops_before_any_work_saying_where_the_data_is_published(string config, string publisher, string folder)
    {
        var dir = TempDir();
        var loaded = ExperimentConfigLoader.Load(ConfigPath(config), _ => null);
        await using var app = await TestApp.StartAsync(Path.Combine(dir, "runs"));
        var error = Assert.Throws<ConfigException>(() => app.Plan(loaded));
        var images = Assert.Single(error.Problems, p => p.Message.Contains("option 'images_directory'", StringComparison.Ordinal));
        Assert.Contains(publisher, images.Message);
        Assert.Contains(folder, images.Message);
        Assert.Contains(error.Problems, p => p.Message.Contains("option 'path'", StringComparison.Ordinal) && p.Message.Contains(publisher, StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(dir, "runs")) && Directory.EnumerateFileSystemEntries(Path.Combine(dir, "runs")).Any(d => !d.EndsWith(".cache", StringComparison.Ordinal)));
    }
}
