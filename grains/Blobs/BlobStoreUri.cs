namespace GidCluster.Grains.Blobs;

/// <summary>
/// Opens a blob store from a URI. Forms: <c>file:DIR</c> (also <c>file:///ABS/DIR</c>), a local
/// directory created if missing. Azure Blob Storage (<c>azure:…</c>) plugs in here when its client lands.
/// </summary>
public static class BlobStoreUri
{
    public const string Help = "file:DIR (a local directory)";

    public static IBlobStore Open(string uri)
    {
        if (string.IsNullOrWhiteSpace(uri))
            throw new ArgumentException($"blob URI is empty; expected {Help}", nameof(uri));
        if (uri.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            var dir = uri.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(uri).LocalPath : uri["file:".Length..];
            if (dir.Length == 0)
                throw new ArgumentException("blob URI 'file:' names no directory; use file:DIR", nameof(uri));
            return new LocalBlobStore(dir);
        }
        // Never echo the URI: other schemes may carry keys.
        throw new ArgumentException($"blob URI has an unknown scheme; expected {Help}", nameof(uri));
    }
}
