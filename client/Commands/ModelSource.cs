using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using GidCluster.Contracts;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>--model RUN_OR_DIR</c> of <c>gid animate</c> and <c>gid interact</c>: an existing folder is a model folder; anything
/// else is a training run id on the cluster, whose latest checkpoint is pulled (<see cref="CheckpointPull"/>) into
/// <c>$GID_DATA/models/RUN/step-N-HASH/</c>. The key holds the step and a hash of the files' SHA-256s, so a newer
/// checkpoint (or a run re-created under the same id) is pulled again and an unchanged one is read from the cache.
/// </summary>
public static class ModelSource
{
    public static Option<string> Option() => new("--model")
    {
        Description = "A model folder (model.json, vae.pt, ldm.pt, renderer.pt), or a training run id on the cluster (its latest checkpoint is pulled and cached).",
        Required = true,
    };

    public static string CacheRoot() => Path.Combine(EndpointFile.DataDir(), "models");

    /// <summary>The model folder for <paramref name="model"/>; a run is pulled through the cluster at <paramref name="cluster"/> when not cached.</summary>
    public static async Task<string> ResolveAsync(string model, string? cluster, CancellationToken cancel)
    {
        if (Directory.Exists(model))
            return model;
        if (model.Contains('/') || model.Contains('\\') || model.StartsWith('.') || model.StartsWith('~'))
            throw new DirectoryNotFoundException($"--model {model}: no such model folder");
        ClusterClient client;
        try
        {
            client = await ClusterClient.ConnectAsync(cluster, cancel);
        }
        catch (Exception e) when (e is ClusterClientException or TimeoutException or Orleans.Runtime.OrleansException or IOException)
        {
            throw new DirectoryNotFoundException($"--model {model}: not a model folder, and no cluster to pull it from as a run ({e.Message})");
        }
        await using (client)
        {
            IReadOnlyList<CheckpointView> checkpoints;
            try
            {
                checkpoints = await CheckpointPull.ListAsync(client, model);
            }
            catch (ClusterClientException e)
            {
                throw new DirectoryNotFoundException($"--model {model}: not a model folder, and {e.Message}");
            }
            var latest = checkpoints.LastOrDefault() ?? throw new InvalidDataException($"--model {model}: run '{model}' has no checkpoints yet");
            var dir = Path.Combine(CacheRoot(), model, $"step-{latest.Step:D8}-{Key(latest)}");
            if (File.Exists(Path.Combine(dir, CompleteMarker)))
            {
                Console.WriteLine($"model: run {model} step {latest.Step}, cached in {dir}");
                return dir;
            }
            // Pulled beside the cache entry and renamed into place whole, so an interrupted pull is never taken for a model.
            var part = dir + ".part";
            if (Directory.Exists(part)) Directory.Delete(part, recursive: true);
            Console.WriteLine($"model: pulling run {model} step {latest.Step} into {dir}");
            await CheckpointPull.PullAsync(client, client.OpenBlobs(null), model, latest, part, cancel);
            await File.WriteAllTextAsync(Path.Combine(part, CompleteMarker), $"{model} step {latest.Step}\n", cancel);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.Move(part, dir);
            return dir;
        }
    }

    private const string CompleteMarker = ".pulled";

    private static string Key(CheckpointView checkpoint)
    {
        var all = string.Join("\n", checkpoint.Files.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => f.Path + " " + f.Sha256));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(all)))[..12];
    }
}
