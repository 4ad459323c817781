using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;

namespace GidCluster.Grains.Leases;

/// <summary>
/// A blob store that checks the grain's lease before every write, so a silo that lost its lease
/// stops writing. Output names are deterministic, so a write that raced past the check replaces
/// an object with the same bytes; only the fenced commit in the store makes a result visible.
/// </summary>
public sealed class FencedBlobStore(IBlobStore inner, ILeaseGuard guard) : IBlobStore
{
    public string Describe() => inner.Describe();

    public async Task<BlobInfo> PutAsync(string path, Stream content, CancellationToken cancel = default)
    {
        await guard.EnsureHeldAsync(cancel);
        return await inner.PutAsync(path, content, cancel);
    }

    public Task<Stream> OpenReadAsync(string path, CancellationToken cancel = default) => inner.OpenReadAsync(path, cancel);

    public Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancel = default) => inner.ReadRangeAsync(path, offset, length, cancel);

    public Task<BlobInfo?> GetInfoAsync(string path, CancellationToken cancel = default) => inner.GetInfoAsync(path, cancel);

    public IAsyncEnumerable<BlobInfo> ListAsync(string prefix, CancellationToken cancel = default) => inner.ListAsync(prefix, cancel);

    public async Task<bool> DeleteAsync(string path, CancellationToken cancel = default)
    {
        await guard.EnsureHeldAsync(cancel);
        return await inner.DeleteAsync(path, cancel);
    }
}
