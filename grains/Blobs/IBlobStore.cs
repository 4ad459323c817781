namespace GidCluster.Grains.Blobs;

/// <summary>What the blob store knows of one object.</summary>
/// <param name="Path">The object's key: forward slashes, relative, no <c>..</c> (see <see cref="BlobPath"/>).</param>
/// <param name="Sha256">Lower-case hex of the whole object's SHA-256, when the store recorded it at upload.</param>
public sealed record BlobInfo(string Path, long Size, DateTimeOffset LastModified, string? Sha256);

/// <summary>
/// Videos, shards, manifests, checkpoints and renders live behind this interface: a local
/// directory on one machine, Azure Blob Storage at scale. Writes are all-or-nothing: an object
/// that is being written, or whose upload was interrupted, is never visible to readers.
/// </summary>
public interface IBlobStore
{
    /// <summary>Human-readable location with no secrets in it (for logs and the dashboard).</summary>
    string Describe();

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> (replacing it) and returns what was stored, with its SHA-256.</summary>
    Task<BlobInfo> PutAsync(string path, Stream content, CancellationToken cancel = default);

    /// <summary>Opens an object for reading; <see cref="BlobNotFoundException"/> if it does not exist.</summary>
    Task<Stream> OpenReadAsync(string path, CancellationToken cancel = default);

    /// <summary>Reads <paramref name="length"/> bytes from <paramref name="offset"/> (fewer at the end of the object).</summary>
    Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancel = default);

    /// <summary>The object's info, or null if it does not exist.</summary>
    Task<BlobInfo?> GetInfoAsync(string path, CancellationToken cancel = default);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, in key order.</summary>
    IAsyncEnumerable<BlobInfo> ListAsync(string prefix, CancellationToken cancel = default);

    /// <summary>Deletes an object; false if there was none.</summary>
    Task<bool> DeleteAsync(string path, CancellationToken cancel = default);
}

public sealed class BlobNotFoundException(string store, string path)
    : FileNotFoundException($"blob '{path}' does not exist in {store}", path);

/// <summary>Validation of object keys, shared by every store so they accept and refuse the same keys.</summary>
public static class BlobPath
{
    /// <summary>Returns the key unchanged, or throws <see cref="ArgumentException"/> naming what is wrong with it.</summary>
    public static string Validate(string path, string parameter = "path")
    {
        if (string.IsNullOrEmpty(path))
            throw new ArgumentException("blob path is empty", parameter);
        if (path.Length > 1024)
            throw new ArgumentException($"blob path is longer than 1024 characters: '{path[..40]}…'", parameter);
        if (path.StartsWith('/') || path.Contains('\\') || path.Contains('\0'))
            throw new ArgumentException($"blob path '{path}' must be relative, with forward slashes", parameter);
        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or "." or "..")
                throw new ArgumentException($"blob path '{path}' has an empty, '.' or '..' segment", parameter);
        }
        return path;
    }
}
