namespace BiasBench.Hub;

/// <summary>
/// An exclusive lock on a file (like huggingface_hub's .locks/*.lock): two processes fetching the same blob wait
/// for each other instead of writing the same .incomplete file. FileShare.None takes an OS-level lock on Unix too.
/// </summary>
internal sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;
    private FileLock(FileStream stream) => _stream = stream;

    public static async Task<FileLock> AcquireAsync(string path, CancellationToken ct, TimeSpan? pollInterval = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            try
            {
                return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None));
            }
            catch (IOException) when (!ct.IsCancellationRequested)
            {
                await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(250), ct);
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
