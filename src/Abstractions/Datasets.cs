namespace BiasBench.Abstractions;

/// <summary>
/// What a data stage provides: images (possibly none, for a pure score table) and a table of attributes
/// or scores keyed by <see cref="IdColumn"/>, which matches <see cref="ImageRef.Id"/>.
/// </summary>
public sealed record DatasetContent(IReadOnlyList<ImageRef> Images, DataTable Table, string IdColumn);

/// <summary>A folder of images with an attribute table, a label file, or a CSV of scores.</summary>
public interface IDataset
{
    string Name { get; }
    Task<DatasetContent> LoadAsync(CancellationToken cancellationToken);
}
