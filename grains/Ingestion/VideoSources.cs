using System.Security.Cryptography;
using System.Text;

namespace GidCluster.Grains.Ingestion;

/// <summary>
/// Which video URIs a silo accepts: absolute local paths or <c>file:</c> URIs of existing files
/// under one of the allowed roots, with no <c>.</c> or <c>..</c> segments (no path traversal).
/// </summary>
public sealed class VideoSources(IReadOnlyList<string> allowedRoots)
{
    private readonly string[] _roots = allowedRoots.Select(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r))).ToArray();

    public IReadOnlyList<string> Roots => _roots;

    /// <summary>The absolute path a URI names, or <see cref="ArgumentException"/> saying what is wrong with it.</summary>
    public string Resolve(string uri)
    {
        if (string.IsNullOrWhiteSpace(uri))
            throw new ArgumentException("video URI is empty");
        string path;
        if (uri.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            // Decode first, so %2e%2e cannot smuggle a '..' past the segment check.
            path = Uri.UnescapeDataString(uri["file:".Length..]);
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..];
                if (!path.StartsWith('/'))
                    throw new ArgumentException($"video URI '{uri}' names a host; only local files (file:///PATH) are accepted");
            }
        }
        else if (uri.Contains("://", StringComparison.Ordinal))
            throw new ArgumentException($"video URI '{uri}' has an unsupported scheme; use an absolute path or file:///PATH");
        else
            path = uri;
        if (!path.StartsWith('/'))
            throw new ArgumentException($"video URI '{uri}' is not an absolute path");
        if (path.Contains('\0') || path.Split('/').Any(s => s is "." or ".."))
            throw new ArgumentException($"video URI '{uri}' contains a '.' or '..' segment (path traversal is refused)");
        var full = Path.GetFullPath(path);
        if (!_roots.Any(root => full.StartsWith(root + "/", StringComparison.Ordinal)))
            throw new ArgumentException($"video URI '{uri}' is outside the allowed roots ({string.Join(", ", _roots)})");
        if (!File.Exists(full))
            throw new ArgumentException($"video '{uri}' does not exist");
        // A symbolic link must not lead out of the allowed roots either.
        var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
        if (target != null && !_roots.Any(root => target.StartsWith(root + "/", StringComparison.Ordinal)))
            throw new ArgumentException($"video URI '{uri}' is a link to a file outside the allowed roots");
        return full;
    }

    /// <summary>A stable id for a video: its file name, simplified, plus 8 hex of its path's SHA-256.</summary>
    public static string VideoId(string fullPath)
    {
        var stem = new string(Path.GetFileNameWithoutExtension(fullPath).ToLowerInvariant()
            .Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        if (stem.Length > 40)
            stem = stem[..40];
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(fullPath)))[..8];
        return stem.Length == 0 ? hash : $"{stem}-{hash}";
    }
}
