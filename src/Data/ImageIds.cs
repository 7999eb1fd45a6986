namespace BiasBench.Data;

/// <summary>The project-wide image id rule: the file name without directory and without its last extension.</summary>
public static class ImageIds
{
    /// <summary>
    /// <c>C:\\Users\\x\\images\\sdxl_attractive_seed12.png</c> (with single or doubled backslashes, as pandas on
    /// Windows writes them), <c>/data/000001.jpg</c> and <c>AF1.jpg</c> give <c>sdxl_attractive_seed12</c>,
    /// <c>000001</c> and <c>AF1</c>. Both separators are honoured whatever the current OS, because the files come
    /// from Windows and Linux machines alike. A leading dot (<c>.hidden</c>) is not treated as an extension.
    /// </summary>
    public static string FromPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var s = path.AsSpan().Trim();
        var slash = s.LastIndexOfAny('/', '\\');
        var name = slash >= 0 ? s[(slash + 1)..] : s;
        var dot = name.LastIndexOf('.');
        if (dot > 0) name = name[..dot];
        return name.ToString();
    }

    /// <summary>The file name part (directory removed, extension kept), with the same separator rules.</summary>
    public static string FileName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var s = path.AsSpan().Trim();
        var slash = s.LastIndexOfAny('/', '\\');
        return (slash >= 0 ? s[(slash + 1)..] : s).ToString();
    }
}
