using GidCluster.Grains.Blobs;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Azure.Tests;

/// <summary>The same blob-store contract, run against the local-directory store, so both stores behave alike.</summary>
public sealed class LocalBlobStoreContractTests : BlobStoreContractTests, IDisposable
{
    private readonly TempDir _dir = Paths.NewTempDir("gid-local-blobs");
    private int _stores;

    protected override IBlobStore CreateStore() =>
        new LocalBlobStore(Path.Combine(_dir.Path, $"store-{Interlocked.Increment(ref _stores)}"));

    public void Dispose() => _dir.Dispose();
}

/// <summary>The blob URI forms open the store they name, and never echo what they were given on error.</summary>
public sealed class BlobStoreUriTests
{
    [Fact]
    public void File_uri_opens_a_local_store()
    {
        using var dir = Paths.NewTempDir("gid-blob-uri");
        Assert.IsType<LocalBlobStore>(BlobStoreUri.Open("file:" + dir.Path));
    }

    [Fact]
    public void Azure_uri_opens_an_Azure_store_from_the_environment_variable_it_names()
    {
        const string variable = "GID_TEST_BLOB_CONNECTION";
        Environment.SetEnvironmentVariable(variable, "UseDevelopmentStorage=true");
        try
        {
            var store = BlobStoreUri.Open($"azure://gid-data?connection-env={variable}");
            Assert.IsType<GidCluster.Grains.Blobs.Azure.AzureBlobStore>(store);
            Assert.Contains("gid-data", store.Describe());
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public void Unknown_scheme_is_refused_without_echoing_the_uri()
    {
        var e = Assert.Throws<ArgumentException>(() => BlobStoreUri.Open("s3://bucket?secret=hunter2"));
        Assert.DoesNotContain("hunter2", e.Message);
        Assert.Contains("azure://", e.Message);
    }
}
