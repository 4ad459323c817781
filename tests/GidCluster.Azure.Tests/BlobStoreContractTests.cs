using System.Security.Cryptography;
using System.Text;
using GidCluster.Grains.Blobs;
using Xunit;

namespace GidCluster.Azure.Tests;

/// <summary>
/// What every <see cref="IBlobStore"/> must do, whatever is behind it. A store's test class derives
/// from this and supplies an empty store per test; the same suite then runs against each store
/// (Azure through Azurite here; the local-directory store by deriving another class from it).
/// Expected hashes come from the BCL's SHA-256, never from the store.
/// </summary>
public abstract class BlobStoreContractTests
{
    /// <summary>A fresh, empty store; it is disposed after the test if it is disposable.</summary>
    protected abstract IBlobStore CreateStore();

    /// <summary>A size that spans several of the store's internal blocks or chunks, to exercise its multi-part paths.</summary>
    protected virtual int MultiPartSize => 300_000;

    private async Task With(Func<IBlobStore, Task> test)
    {
        var store = CreateStore();
        try { await test(store); }
        finally { (store as IDisposable)?.Dispose(); }
    }

    protected static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static string Sha(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    protected static async Task<byte[]> ReadAll(IBlobStore store, string path)
    {
        await using var stream = await store.OpenReadAsync(path);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public Task Put_then_read_returns_the_bytes_and_their_sha256() => With(async store =>
    {
        var data = RandomBytes(10_000, 1);
        var info = await store.PutAsync("a/b/c.bin", new MemoryStream(data));
        Assert.Equal("a/b/c.bin", info.Path);
        Assert.Equal(data.Length, info.Size);
        Assert.Equal(Sha(data), info.Sha256);
        Assert.Equal(data, await ReadAll(store, "a/b/c.bin"));
        var again = await store.GetInfoAsync("a/b/c.bin");
        Assert.NotNull(again);
        Assert.Equal(data.Length, again.Size);
        Assert.Equal(Sha(data), again.Sha256);
        Assert.InRange(again.LastModified, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));
    });

    [Fact]
    public Task An_empty_object_is_an_object() => With(async store =>
    {
        var info = await store.PutAsync("empty", new MemoryStream());
        Assert.Equal(0, info.Size);
        Assert.Equal(Sha([]), info.Sha256);
        Assert.Empty(await ReadAll(store, "empty"));
        Assert.Empty(await store.ReadRangeAsync("empty", 0, 10));
        Assert.Equal(0, (await store.GetInfoAsync("empty"))!.Size);
    });

    [Fact]
    public Task A_multi_part_object_round_trips() => With(async store =>
    {
        var data = RandomBytes(MultiPartSize, 2);
        var info = await store.PutAsync("big/object.bin", new MemoryStream(data));
        Assert.Equal(Sha(data), info.Sha256);
        Assert.Equal(data, await ReadAll(store, "big/object.bin"));
    });

    [Fact]
    public Task Put_replaces_an_existing_object() => With(async store =>
    {
        await store.PutAsync("x", new MemoryStream(RandomBytes(5000, 3)));
        var second = RandomBytes(1234, 4);
        var info = await store.PutAsync("x", new MemoryStream(second));
        Assert.Equal(second.Length, info.Size);
        Assert.Equal(second, await ReadAll(store, "x"));
        Assert.Equal(Sha(second), (await store.GetInfoAsync("x"))!.Sha256);
    });

    [Fact]
    public Task Missing_objects_are_reported_as_missing() => With(async store =>
    {
        var e = await Assert.ThrowsAsync<BlobNotFoundException>(() => store.OpenReadAsync("nope/x"));
        Assert.Contains("nope/x", e.Message);
        await Assert.ThrowsAsync<BlobNotFoundException>(() => store.ReadRangeAsync("nope/x", 0, 10));
        Assert.Null(await store.GetInfoAsync("nope/x"));
        Assert.False(await store.DeleteAsync("nope/x"));
        Assert.Empty(await store.ListAsync("nope/").ToListAsync());
    });

    [Fact]
    public Task Ranged_reads_return_the_slice_and_stop_at_the_end() => With(async store =>
    {
        var data = RandomBytes(MultiPartSize, 5);
        await store.PutAsync("r", new MemoryStream(data));
        var rng = new Random(6);
        for (var i = 0; i < 8; i++)
        {
            var offset = rng.Next(data.Length);
            var length = rng.Next(1, data.Length / 2);
            var expected = data.AsSpan(offset, Math.Min(length, data.Length - offset)).ToArray();
            Assert.Equal(expected, await store.ReadRangeAsync("r", offset, length));
        }
        Assert.Equal(data[^10..], await store.ReadRangeAsync("r", data.Length - 10, 1000));
        Assert.Empty(await store.ReadRangeAsync("r", data.Length, 10));
        Assert.Empty(await store.ReadRangeAsync("r", data.Length + 100, 10));
        Assert.Empty(await store.ReadRangeAsync("r", 5, 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadRangeAsync("r", -1, 10));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadRangeAsync("r", 0, -1));
    });

    [Fact]
    public Task List_returns_objects_under_the_prefix_in_key_order() => With(async store =>
    {
        var names = Enumerable.Range(0, 12).Select(i => $"shards/part-{i:D3}.parquet").ToList();
        foreach (var name in names.AsEnumerable().Reverse())
            await store.PutAsync(name, new MemoryStream(Encoding.UTF8.GetBytes(name)));
        await store.PutAsync("shardsX/other", new MemoryStream([1]));
        await store.PutAsync("videos/v.mp4", new MemoryStream([2]));

        var listed = await store.ListAsync("shards/").ToListAsync();
        Assert.Equal(names, listed.Select(b => b.Path));
        Assert.All(listed, b => Assert.Equal(Sha(Encoding.UTF8.GetBytes(b.Path)), b.Sha256));
        Assert.All(listed, b => Assert.Equal(Encoding.UTF8.GetByteCount(b.Path), b.Size));
        Assert.Equal(14, (await store.ListAsync("").ToListAsync()).Count);
        Assert.Equal(13, (await store.ListAsync("shards").ToListAsync()).Count);
    });

    [Fact]
    public Task Delete_removes_the_object() => With(async store =>
    {
        await store.PutAsync("d/1", new MemoryStream([1, 2, 3]));
        await store.PutAsync("d/2", new MemoryStream([4]));
        Assert.True(await store.DeleteAsync("d/1"));
        Assert.Null(await store.GetInfoAsync("d/1"));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => store.OpenReadAsync("d/1"));
        Assert.Equal(["d/2"], (await store.ListAsync("d/").ToListAsync()).Select(b => b.Path));
        Assert.False(await store.DeleteAsync("d/1"));
    });

    [Fact]
    public Task Keys_with_spaces_and_non_ascii_characters_round_trip() => With(async store =>
    {
        const string name = "clips/a b+c %20 é;x=1.mp4";
        var data = RandomBytes(777, 7);
        await store.PutAsync(name, new MemoryStream(data));
        Assert.Equal(data, await ReadAll(store, name));
        Assert.Equal(name, Assert.Single(await store.ListAsync("clips/").ToListAsync()).Path);
        Assert.True(await store.DeleteAsync(name));
    });

    [Theory]
    [InlineData("")]
    [InlineData("/abs")]
    [InlineData("a//b")]
    [InlineData("../up")]
    [InlineData("a/./b")]
    [InlineData("a\\b")]
    public Task Invalid_keys_are_refused_by_every_operation(string bad) => With(async store =>
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.PutAsync(bad, new MemoryStream([1])));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.OpenReadAsync(bad));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.ReadRangeAsync(bad, 0, 1));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.GetInfoAsync(bad));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.DeleteAsync(bad));
    });

    [Fact]
    public Task Describe_names_the_store() => With(store =>
    {
        Assert.False(string.IsNullOrWhiteSpace(store.Describe()));
        return Task.CompletedTask;
    });
}
