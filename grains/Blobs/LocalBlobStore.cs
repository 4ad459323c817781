using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace GidCluster.Grains.Blobs;

/// <summary>
/// A blob store in a local directory. Writes go to a temp file in <c>.gid-tmp/</c> and are renamed
/// into place, so readers never see a partial object; the SHA-256 computed while writing is kept in
/// <c>.gid-meta/KEY.sha256</c> together with the size it belongs to.
/// </summary>
public sealed class LocalBlobStore : IBlobStore
{
    private const string TempDir = ".gid-tmp";
    private const string MetaDir = ".gid-meta";
    private readonly string _root;

    public LocalBlobStore(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(_root, TempDir));
        Directory.CreateDirectory(Path.Combine(_root, MetaDir));
    }

    public string Root => _root;

    public string Describe() => $"file:{_root}";

    private string FileOf(string path)
    {
        BlobPath.Validate(path);
        if (path.StartsWith(TempDir + "/", StringComparison.Ordinal) || path.StartsWith(MetaDir + "/", StringComparison.Ordinal))
            throw new ArgumentException($"blob path '{path}' is inside the store's private folders", nameof(path));
        return Path.Combine(_root, path);
    }

    private string MetaOf(string path) => Path.Combine(_root, MetaDir, path + ".sha256");

    public async Task<BlobInfo> PutAsync(string path, Stream content, CancellationToken cancel = default)
    {
        var file = FileOf(path);
        var temp = Path.Combine(_root, TempDir, Guid.NewGuid().ToString("N"));
        try
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await content.ReadAsync(buffer, cancel)) > 0)
                {
                    sha.AppendData(buffer, 0, n);
                    await output.WriteAsync(buffer.AsMemory(0, n), cancel);
                    size += n;
                }
                await output.FlushAsync(cancel);
                output.Flush(flushToDisk: true);
            }
            var hex = Convert.ToHexStringLower(sha.GetHashAndReset());
            var meta = MetaOf(path);
            Directory.CreateDirectory(Path.GetDirectoryName(meta)!);
            var metaTemp = temp + ".meta";
            await File.WriteAllTextAsync(metaTemp, $"{hex} {size}", cancel);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            // Meta first: a reader that finds new meta beside old data sees a size mismatch and no hash, never a wrong hash.
            File.Move(metaTemp, meta, overwrite: true);
            File.Move(temp, file, overwrite: true);
            return new BlobInfo(path, size, File.GetLastWriteTimeUtc(file), hex);
        }
        finally
        {
            File.Delete(temp);
            File.Delete(temp + ".meta");
        }
    }

    public Task<Stream> OpenReadAsync(string path, CancellationToken cancel = default)
    {
        var file = FileOf(path);
        try
        {
            return Task.FromResult<Stream>(new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, useAsync: true));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobNotFoundException(Describe(), path);
        }
    }

    public async Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        await using var s = await OpenReadAsync(path, cancel);
        if (offset >= s.Length)
            return [];
        s.Position = offset;
        var buffer = new byte[(int)Math.Min(length, s.Length - offset)];
        await s.ReadExactlyAsync(buffer, cancel);
        return buffer;
    }

    public async Task<BlobInfo?> GetInfoAsync(string path, CancellationToken cancel = default)
    {
        var file = new FileInfo(FileOf(path));
        if (!file.Exists)
            return null;
        return new BlobInfo(path, file.Length, file.LastWriteTimeUtc, await RecordedShaAsync(path, file.Length, cancel));
    }

    private async Task<string?> RecordedShaAsync(string path, long size, CancellationToken cancel)
    {
        var meta = MetaOf(path);
        if (!File.Exists(meta))
            return null;
        var parts = (await File.ReadAllTextAsync(meta, cancel)).Split(' ');
        return parts.Length == 2 && long.TryParse(parts[1], out var recorded) && recorded == size ? parts[0] : null;
    }

    public async IAsyncEnumerable<BlobInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancel = default)
    {
        var keys = Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(_root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(k => !k.StartsWith(TempDir + "/", StringComparison.Ordinal) && !k.StartsWith(MetaDir + "/", StringComparison.Ordinal))
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        foreach (var key in keys)
        {
            if (await GetInfoAsync(key, cancel) is { } info)
                yield return info;
        }
    }

    public Task<bool> DeleteAsync(string path, CancellationToken cancel = default)
    {
        var file = FileOf(path);
        if (!File.Exists(file))
            return Task.FromResult(false);
        File.Delete(file);
        File.Delete(MetaOf(path));
        return Task.FromResult(true);
    }
}
