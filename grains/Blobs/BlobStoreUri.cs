namespace GidCluster.Grains.Blobs;

/// <summary>
/// Opens a blob store from a URI. Forms: <c>file:DIR</c> (also <c>file:///ABS/DIR</c>), a local
/// directory created if missing; <c>azure://CONTAINER[?connection-env=VAR]</c>, Azure Blob Storage
/// (or Azurite) with the connection string read from the environment, never from the URI.
/// </summary>
public static class BlobStoreUri
{
    public static readonly string Help = "file:DIR (a local directory), or " + Azure.AzureBlobStore.UriHelp;

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
        if (uri.StartsWith("azure://", StringComparison.OrdinalIgnoreCase))
            return Azure.AzureBlobStore.FromUri(uri);
        // Never echo the URI: other schemes may carry keys.
        throw new ArgumentException($"blob URI has an unknown scheme; expected {Help}", nameof(uri));
    }
}
