using System.Net;
using System.Security.Cryptography;
using System.Text;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Blobs.Azure;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Azure.Tests;

/// <summary>What only the Azure store has to prove: blocks, continuation, integrity checks, atomic uploads, retries, and a key that never leaks.</summary>
[Collection("azurite")]
public sealed class AzureBlobStoreTests(AzuriteServer azurite)
{
    private static readonly AzureBlobStoreOptions FastRetries = new()
    {
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    private AzureBlobStore Store(string container, AzureBlobStoreOptions? options = null, Uri? endpoint = null) =>
        AzureBlobStore.FromConnectionString(azurite.ConnectionStringFor(endpoint ?? azurite.Endpoint), container, options ?? FastRetries);

    private static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<byte[]> ReadAll(IBlobStore store, string path)
    {
        await using var stream = await store.OpenReadAsync(path);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    /// <summary>The service's own view through a separate SDK client, bypassing the store (to inspect or tamper with what it stored).</summary>
    private BlockBlobClient Raw(string container, string path) =>
        new BlobContainerClient(azurite.ConnectionString, container, AzureBlobStore.ClientOptions(new AzureBlobStoreOptions())).GetBlockBlobClient(path);

    [Fact]
    public async Task A_20_MB_object_goes_up_in_4_MB_blocks_with_its_sha256_and_comes_back_intact()
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        using var store = Store(container, FastRetries with { BlockSize = 4 * 1024 * 1024 });
        var data = RandomBytes(20 * 1024 * 1024, 11);
        var info = await store.PutAsync("checkpoints/run1/step-100.pt", new MemoryStream(data));
        var sha = Convert.ToHexStringLower(SHA256.HashData(data));
        Assert.Equal(sha, info.Sha256);
        Assert.Equal(data.Length, info.Size);

        // The service's own view: five committed blocks of at most 4 MiB, and the sha256 as metadata.
        var raw = Raw(container, "checkpoints/run1/step-100.pt");
        BlockList list = await raw.GetBlockListAsync(BlockListTypes.All);
        Assert.Equal([4194304, 4194304, 4194304, 4194304, 4194304], list.CommittedBlocks.Select(b => b.SizeLong).ToList());
        Assert.Empty(list.UncommittedBlocks);
        BlobProperties head = await raw.GetPropertiesAsync();
        Assert.Equal(sha, head.Metadata["sha256"]);
        Assert.Equal(MD5.HashData(data), head.ContentHash);

        Assert.Equal(data, await ReadAll(store, "checkpoints/run1/step-100.pt"));
        Assert.Equal(data.AsSpan(5_000_000, 3_000_000).ToArray(), await store.ReadRangeAsync("checkpoints/run1/step-100.pt", 5_000_000, 3_000_000));
        Assert.Equal(data.AsSpan(data.Length - 7).ToArray(), await store.ReadRangeAsync("checkpoints/run1/step-100.pt", data.Length - 7, 4_500_000));
    }

    [Fact]
    public async Task A_small_object_goes_up_in_one_Put_Blob_with_its_Content_MD5()
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        await using var proxy = await LoopbackProxy.StartAsync(azurite.Endpoint);
        using var store = Store(container, endpoint: new Uri(proxy.Address, AzuriteServer.Account));
        var data = RandomBytes(100_000, 12);
        await store.PutAsync("m.json", new MemoryStream(data));
        lock (proxy.Log)
            Assert.Single(proxy.Log, l => l.StartsWith("PUT ") && l.Contains("/m.json"));
        BlobProperties head = await Raw(container, "m.json").GetPropertiesAsync();
        Assert.Equal(MD5.HashData(data), head.ContentHash);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Blocks_go_up_several_at_once_but_never_more_than_asked(int concurrency)
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        await using var proxy = await LoopbackProxy.StartAsync(azurite.Endpoint);
        using var store = Store(container, FastRetries with { BlockSize = 64 * 1024, UploadConcurrency = concurrency }, new Uri(proxy.Address, AzuriteServer.Account));
        await store.GetInfoAsync("warm-up"); // the container and connection, before timing overlaps
        proxy.Delay = TimeSpan.FromMilliseconds(60);
        var data = RandomBytes(12 * 64 * 1024 + 5, 19);
        var info = await store.PutAsync("c.bin", new MemoryStream(data));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), info.Sha256);
        Assert.Equal(data, await ReadAll(store, "c.bin"));
        if (concurrency == 1)
            Assert.Equal(1, proxy.MaxInFlight);
        else
            Assert.InRange(proxy.MaxInFlight, 2, concurrency);
    }

    [Fact]
    public async Task Listing_follows_continuation_markers_across_pages()
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        await using var proxy = await LoopbackProxy.StartAsync(azurite.Endpoint);
        using var store = Store(container, FastRetries with { ListPageSize = 4 }, new Uri(proxy.Address, AzuriteServer.Account));
        var names = Enumerable.Range(0, 23).Select(i => $"videos/clip-{i:D2}.mp4").ToList();
        foreach (var name in names)
            await store.PutAsync(name, new MemoryStream(Encoding.UTF8.GetBytes(name)));
        await store.PutAsync("zzz", new MemoryStream([1]));

        var listed = await store.ListAsync("videos/").ToListAsync();
        Assert.Equal(names, listed.Select(b => b.Path));
        lock (proxy.Log)
        {
            var pages = proxy.Log.Where(l => l.Contains("comp=list")).ToList();
            Assert.Equal(6, pages.Count); // 23 objects, 4 a page
            Assert.Equal(5, pages.Count(l => l.Contains("marker=")));
        }
    }

    [Fact]
    public async Task A_download_corrupted_in_transit_is_refused()
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        await using var proxy = await LoopbackProxy.StartAsync(azurite.Endpoint);
        using var store = Store(container, FastRetries with { BlockSize = 64 * 1024 }, new Uri(proxy.Address, AzuriteServer.Account));
        await store.PutAsync("s/shard-0.parquet", new MemoryStream(RandomBytes(200_000, 13)));
        proxy.CorruptBodies = true;
        var e = await Assert.ThrowsAsync<BlobCorruptedException>(() => ReadAll(store, "s/shard-0.parquet"));
        Assert.Contains("s/shard-0.parquet", e.Message);
        Assert.Contains("Content-MD5", e.Message);
        await Assert.ThrowsAsync<BlobCorruptedException>(() => store.ReadRangeAsync("s/shard-0.parquet", 1000, 10));
    }

    [Fact]
    public async Task An_object_changed_at_rest_fails_its_sha256_check()
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        using var store = Store(container);
        var data = RandomBytes(50_000, 14);
        var info = await store.PutAsync("m/manifest.json", new MemoryStream(data));

        // Rewrite the bytes behind the store's back, keeping the recorded sha256 (the service computes a fresh, consistent MD5).
        var tampered = (byte[])data.Clone();
        tampered[25_000] ^= 1;
        var put = await Raw(container, "m/manifest.json").UploadAsync(new MemoryStream(tampered),
            new BlobUploadOptions { Metadata = new Dictionary<string, string> { ["sha256"] = info.Sha256! } });
        Assert.Equal((int)HttpStatusCode.Created, put.GetRawResponse().Status);

        var e = await Assert.ThrowsAsync<BlobCorruptedException>(() => ReadAll(store, "m/manifest.json"));
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains(info.Sha256!, e.Message);
    }

    [Fact]
    public async Task An_interrupted_upload_leaves_no_object_and_keeps_the_old_version()
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        using var store = Store(container, FastRetries with { BlockSize = 256 * 1024 });
        // One block at a time here, so that some blocks are surely staged when the upload dies.
        using var sequential = Store(container, FastRetries with { BlockSize = 256 * 1024, UploadConcurrency = 1 });

        // Never written before: nothing appears.
        using (var cancel = new CancellationTokenSource())
        {
            var source = new CancelAfterStream(RandomBytes(3_000_000, 15), 1_000_000, cancel);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sequential.PutAsync("new.bin", source, cancel.Token));
        }
        Assert.Null(await store.GetInfoAsync("new.bin"));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => store.OpenReadAsync("new.bin"));
        Assert.Empty(await store.ListAsync("").ToListAsync());
        // The staged blocks exist, uncommitted, which is why nobody sees them.
        BlockList staged = await Raw(container, "new.bin").GetBlockListAsync(BlockListTypes.All);
        Assert.NotEmpty(staged.UncommittedBlocks);

        // Written before: the old version stays whole.
        var old = RandomBytes(10_000, 16);
        var oldInfo = await store.PutAsync("ckpt.pt", new MemoryStream(old));
        using (var cancel = new CancellationTokenSource())
        {
            var source = new CancelAfterStream(RandomBytes(3_000_000, 17), 1_500_000, cancel);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.PutAsync("ckpt.pt", source, cancel.Token));
        }
        var now = await store.GetInfoAsync("ckpt.pt");
        Assert.Equal(oldInfo.Sha256, now!.Sha256);
        Assert.Equal(old.Length, now.Size);
        Assert.Equal(old, await ReadAll(store, "ckpt.pt"));
    }

    [Fact]
    public async Task Transient_503s_and_dropped_connections_are_retried_with_backoff()
    {
        var container = AzureBlobStoreContractTests.NewContainer();
        await using var proxy = await LoopbackProxy.StartAsync(azurite.Endpoint);
        var log = new List<string>();
        using var store = Store(container, FastRetries with { BlockSize = 64 * 1024, Log = l => { lock (log) log.Add(l); } },
            new Uri(proxy.Address, AzuriteServer.Account));
        var data = RandomBytes(300_000, 18);

        proxy.Fail503(3);
        var info = await store.PutAsync("r/x.bin", new MemoryStream(data));
        Assert.Equal(3, log.Count(l => l.Contains("503")));
        proxy.Drop(2);
        Assert.Equal(data, await ReadAll(store, "r/x.bin"));
        Assert.Equal(info.Sha256, (await store.GetInfoAsync("r/x.bin"))!.Sha256);
        Assert.Equal(5, log.Count);

        // Bounded: when the service keeps failing, the caller gets a clear error.
        using var impatient = Store(container, FastRetries with { MaxAttempts = 3 }, new Uri(proxy.Address, AzuriteServer.Account));
        proxy.Fail503(10);
        var e = await Assert.ThrowsAsync<AzureBlobException>(() => impatient.GetInfoAsync("r/x.bin"));
        Assert.Equal(503, e.Status);
        Assert.Contains("r/x.bin", e.Message);
        proxy.Fail503(0);
    }

    [Fact]
    public async Task The_account_key_never_appears_in_messages_logs_or_descriptions()
    {
        var key = azurite.Key;
        var seen = new List<string>();
        await using var proxy = await LoopbackProxy.StartAsync(azurite.Endpoint);
        var options = FastRetries with { MaxAttempts = 2, Log = l => { lock (seen) seen.Add(l); } };
        using var store = Store(AzureBlobStoreContractTests.NewContainer(), options, new Uri(proxy.Address, AzuriteServer.Account));
        seen.Add(store.Describe());
        seen.Add(store.ToString());
        seen.Add(AzureConnectionString.Parse(azurite.ConnectionString).ToString());

        proxy.Fail503(1);
        await store.PutAsync("k", new MemoryStream([1, 2, 3]));
        proxy.Fail503(5);
        seen.Add((await Assert.ThrowsAsync<AzureBlobException>(() => store.GetInfoAsync("k"))).ToString());
        proxy.Fail503(0);
        proxy.Drop(5);
        seen.Add((await Assert.ThrowsAsync<AzureBlobException>(() => store.GetInfoAsync("k"))).ToString());
        proxy.Drop(0);

        // A wrong key: the service refuses, and the message says so without either key.
        var wrongKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        using var wrong = AzureBlobStore.FromConnectionString(
            $"AccountName={AzuriteServer.Account};AccountKey={wrongKey};BlobEndpoint={azurite.Endpoint}", "wrongkey", FastRetries);
        var refused = await Assert.ThrowsAsync<AzureBlobException>(() => wrong.PutAsync("x", new MemoryStream([1])));
        Assert.Equal(403, refused.Status);
        seen.Add(refused.ToString());

        // Malformed connection strings that carry the key.
        foreach (var bad in new[]
        {
            $"AccountName={AzuriteServer.Account};AccountKey={key};Bogus=1",
            $"AccountName={AzuriteServer.Account};AccountKey={key};BlobEndpoint=ftp://x",
            $"AccountName={AzuriteServer.Account};AccountKey={key}!!;BlobEndpoint={azurite.Endpoint}",
            $"AccountKey={key};BlobEndpoint={azurite.Endpoint}",
            $"AccountName={AzuriteServer.Account};AccountKey={key};AccountKey={key}",
            $"AccountName={AzuriteServer.Account};{key}",
        })
        {
            seen.Add(Assert.Throws<FormatException>(() => AzureConnectionString.Parse(bad)).ToString());
        }

        Assert.True(seen.Count >= 12, $"only {seen.Count} messages collected");
        var keyFragments = new[] { key, key[..20], Uri.EscapeDataString(key), wrongKey[..20] };
        foreach (var text in seen)
            foreach (var fragment in keyFragments)
                Assert.DoesNotContain(fragment, text);
    }

    [Fact]
    public async Task The_development_storage_shortcut_reaches_the_published_account()
    {
        // Azurite here listens on a free port rather than 10000, so only the endpoint is moved; name and key come from the shortcut.
        var account = AzureConnectionString.Parse("UseDevelopmentStorage=true");
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1", account.BlobEndpoint.ToString());
        using var store = new AzureBlobStore(account.WithBlobEndpoint(new Uri($"http://127.0.0.1:{azurite.Port}/devstoreaccount1")), "devcheck", FastRetries);
        var info = await store.PutAsync("hello.txt", new MemoryStream("hi"u8.ToArray()));
        Assert.Equal("hi"u8.ToArray(), await ReadAll(store, "hello.txt"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("hi"u8)), info.Sha256);
    }

    /// <summary>Serves bytes and cancels a token once a given number has been read: an upload killed part-way.</summary>
    private sealed class CancelAfterStream(byte[] data, int cancelAt, CancellationTokenSource cancel) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => Tick(base.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken token = default) =>
            Tick(await base.ReadAsync(buffer, CancellationToken.None));

        private int Tick(int n)
        {
            if (Position >= cancelAt)
                cancel.Cancel();
            return n;
        }
    }
}
