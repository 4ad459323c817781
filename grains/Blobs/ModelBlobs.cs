using System.Security.Cryptography;
using System.Text;

namespace GidCluster.Grains.Blobs;

/// <summary>
/// A model folder in the blob store, so silos on other machines can use it: its files go under
/// <c>models/KEY/</c>, where KEY is a hash of the files' names and SHA-256s. The same model is stored once, and a
/// silo that fetches it checks the files it got against the key it was given.
/// </summary>
public static class ModelBlobs
{
    public const string Root = "models";

    /// <summary>The key's form in a blob prefix: <c>models/</c> and 16 hex digits.</summary>
    public static bool IsPrefix(string prefix) =>
        prefix.Length == Root.Length + 17 && prefix.StartsWith(Root + "/", StringComparison.Ordinal) && prefix[(Root.Length + 1)..].All(char.IsAsciiHexDigitLower);

    /// <summary>Uploads the files of <paramref name="folder"/> (not its subfolders) unless stored already; returns the prefix <c>models/KEY</c>.</summary>
    public static async Task<string> UploadAsync(IBlobStore blobs, string folder, CancellationToken cancel)
    {
        var files = new List<(string Name, string Sha256, string Path)>();
        foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
            files.Add((System.IO.Path.GetFileName(file), await BlobFiles.Sha256Async(file, cancel), file));
        if (files.Count == 0)
            throw new InvalidDataException($"model folder {folder} has no files");
        var prefix = $"{Root}/{Key(files.Select(f => (f.Name, f.Sha256)))}";
        foreach (var (name, sha, path) in files)
        {
            var blob = $"{prefix}/{name}";
            if ((await blobs.GetInfoAsync(blob, cancel))?.Sha256 == sha)
                continue;
            await using var stream = File.OpenRead(path);
            await blobs.PutAsync(blob, stream, cancel);
        }
        return prefix;
    }

    /// <summary>
    /// The local folder of the model stored at <paramref name="prefix"/>, under <paramref name="cacheRoot"/>: fetched and
    /// checked against the key once, then reused. A fetch is assembled beside the cache and renamed into place whole.
    /// </summary>
    public static async Task<string> FetchAsync(IBlobStore blobs, string prefix, string cacheRoot, CancellationToken cancel)
    {
        if (!IsPrefix(prefix))
            throw new ArgumentException($"'{prefix}' is not a stored model (models/ and 16 hex digits)");
        var key = prefix[(Root.Length + 1)..];
        var dir = System.IO.Path.Combine(cacheRoot, key);
        if (Directory.Exists(dir))
            return dir;
        var part = System.IO.Path.Combine(cacheRoot, $"{key}.{Guid.NewGuid():N}.part");
        try
        {
            var files = new List<(string Name, string Sha256)>();
            await foreach (var blob in blobs.ListAsync(prefix + "/", cancel))
            {
                var name = blob.Path[(prefix.Length + 1)..];
                if (name.Contains('/')) continue;
                var target = System.IO.Path.Combine(part, name);
                // A listing need not carry hashes; the key below checks every file's bytes either way.
                files.Add((name, await BlobFiles.DownloadVerifiedAsync(blobs, blob.Path, blob.Sha256, target, cancel)));
            }
            if (files.Count == 0)
                throw new FileNotFoundException($"no model is stored at {prefix}/");
            var actual = Key(files.OrderBy(f => f.Name, StringComparer.Ordinal));
            if (actual != key)
                throw new InvalidDataException($"the model stored at {prefix}/ does not match its key (its files hash to {actual})");
            try
            {
                Directory.Move(part, dir);
            }
            catch (IOException) when (Directory.Exists(dir))
            {
                // Another work slot fetched the same model first; its copy is as good.
            }
            return dir;
        }
        finally
        {
            if (Directory.Exists(part)) Directory.Delete(part, recursive: true);
        }
    }

    private static string Key(IEnumerable<(string Name, string Sha256)> files) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Concat(files.Select(f => $"{f.Name} {f.Sha256}\n")))))[..16];
}
