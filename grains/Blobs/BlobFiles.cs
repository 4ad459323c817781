using System.Security.Cryptography;

namespace GidCluster.Grains.Blobs;

/// <summary>Blobs to local files and back, checked by SHA-256: what a checkpoint pull and a model fetch share.</summary>
public static class BlobFiles
{
    /// <summary>
    /// Streams blob <paramref name="path"/> to a temp name while hashing it; only a file whose SHA-256 is
    /// <paramref name="sha256"/> is renamed to <paramref name="target"/> (null: the caller checks the returned hash).
    /// </summary>
    public static async Task<string> DownloadVerifiedAsync(IBlobStore blobs, string path, string? sha256, string target, CancellationToken cancel)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
        var temp = target + ".part";
        try
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var input = await blobs.OpenReadAsync(path, cancel))
            await using (var output = File.Create(temp))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await input.ReadAsync(buffer, cancel)) > 0)
                {
                    sha.AppendData(buffer, 0, n);
                    await output.WriteAsync(buffer.AsMemory(0, n), cancel);
                }
            }
            var actual = Convert.ToHexStringLower(sha.GetHashAndReset());
            if (sha256 != null && actual != sha256)
                throw new InvalidDataException($"{path}: sha256 mismatch (recorded {sha256}, downloaded {actual}); the file was not kept");
            File.Move(temp, target, overwrite: true);
            return actual;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>A local file's SHA-256, lower-case hex.</summary>
    public static async Task<string> Sha256Async(string file, CancellationToken cancel)
    {
        await using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancel));
    }
}
