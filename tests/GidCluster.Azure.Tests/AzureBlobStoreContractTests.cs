using GidCluster.Grains.Blobs;
using GidCluster.Grains.Blobs.Azure;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Azure.Tests;

/// <summary>The blob-store contract against Azurite, with small blocks, chunks and pages so that every multi-part path runs.</summary>
[Collection("azurite")]
public sealed class AzureBlobStoreContractTests(AzuriteServer azurite) : BlobStoreContractTests
{
    protected override IBlobStore CreateStore() =>
        AzureBlobStore.FromConnectionString(azurite.ConnectionString, NewContainer(), new AzureBlobStoreOptions
        {
            BlockSize = 64 * 1024,
            ReadChunkSize = 48 * 1024,
            ListPageSize = 5,
        });

    internal static string NewContainer() => "t" + Guid.NewGuid().ToString("N")[..24];
}
