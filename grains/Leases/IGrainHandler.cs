using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Store;

namespace GidCluster.Grains.Leases;

/// <summary>Executes grains of one kind. The returned JSON is committed as the grain's result, once, if the lease is still held.</summary>
public interface IGrainHandler
{
    string Kind { get; }

    Task<string> ExecuteAsync(Lease lease, ILeaseGuard guard, CancellationToken cancel);
}

/// <summary>Checks a lease against the store.</summary>
public sealed class StoreLeaseGuard(IClusterStore store, Lease lease) : ILeaseGuard
{
    public Task EnsureHeldAsync(CancellationToken cancel) => store.CheckAsync(lease, cancel);
}
