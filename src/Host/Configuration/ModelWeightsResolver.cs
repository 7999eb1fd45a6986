using BiasBench.Hub;

namespace BiasBench.Host.Configuration;

/// <summary>
/// Turns the value of a <see cref="BiasBench.Abstractions.ModelWeightsAttribute"/> option into a local path: an existing
/// file or folder (relative to the config), else a catalog model or hub repository found in the Hugging Face cache
/// (its snapshot folder, when every catalog file of that repository is cached). Otherwise says what is missing and
/// the command that downloads it.
/// </summary>
public static class ModelWeightsResolver
{
    /// <returns>The absolute path, or null with <paramref name="missing"/> explaining what to download.</returns>
    public static string? Resolve(string value, string configDirectory, string componentName, string hubCacheDirectory, out string? missing)
    {
        missing = null;
        var full = Path.IsPathRooted(value) ? value : Path.GetFullPath(Path.Combine(configDirectory, value));
        if (File.Exists(full) || Directory.Exists(full)) return full;

        var cache = new HubCache(hubCacheDirectory);
        var model = ModelCatalog.Find(value);
        if (model is not null)
        {
            var files = model.Files.Where(f => f.RepoId == model.PrimaryRepo).ToList();
            var cached = files.Select(f => cache.TryGetCachedFile(f.RepoId, f.Path, f.Revision)).ToList();
            if (cached.All(p => p is not null)) return SnapshotRoot(cached[0]!, files[0].Path);
            var absent = files.Where((_, i) => cached[i] is null).Select(f => f.Path).ToList();
            missing = $"the weights '{value}' ({model.PrimaryRepo}) are not downloaded (missing in {cache.Directory}: {string.Join(", ", absent)}). " +
                      $"Download them with: biasbench models download {model.Name}";
            return null;
        }
        if (!value.StartsWith('.') && !Path.IsPathRooted(value) && value.Count(c => c == '/') == 1 && HubCache.IsValidRepoId(value))
        {
            var commit = cache.ResolveCommit(value, HubOptions.DefaultRevision);
            var snapshot = commit is null ? null : cache.SnapshotDirectory(value, commit);
            if (snapshot is not null && Directory.Exists(snapshot)) return snapshot;
            missing = $"the hub repository '{value}' is not in the Hugging Face cache ({cache.Directory}). " +
                      $"Download its files with: biasbench models download {value} --file <file> ...";
            return null;
        }
        // A folder named like a known model (models/pickscore, or a file inside it) is what --local-dir fills.
        var folder = Path.HasExtension(full) ? Path.GetDirectoryName(full)! : full;
        var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), folder);
        var hint = ModelCatalog.Find(Path.GetFileName(folder)) is { } known
            ? $" Download them with: biasbench models download {known.Name} --local-dir {relative}"
            : $" Fetch them with 'biasbench models download NAME --local-dir {relative}' ('biasbench models list' shows the known models; the '{componentName}' documentation says which files it needs), or point the option at existing files.";
        missing = $"the weights '{value}' do not exist (resolved to {full}).{hint}";
        return null;
    }

    private static string SnapshotRoot(string cachedFile, string repoPath)
    {
        var dir = cachedFile;
        for (var i = 0; i <= repoPath.Count(c => c == '/'); i++) dir = Path.GetDirectoryName(dir)!;
        return dir;
    }
}
