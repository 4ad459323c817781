using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using GidCluster.Contracts;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>--model RUN_OR_DIR [--renderer RUN]</c> of <c>gid animate</c> and <c>gid interact</c>: an existing folder is a model
/// folder; anything else is a training run id on the cluster, whose latest checkpoint is pulled (<see cref="CheckpointPull"/>,
/// with the renderer run's latest renderer.pt for an ldm run) into
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

    /// <summary><c>--renderer RUN</c>: with an ldm1/ldm2 run as <c>--model</c>, the renderer run that completes its model folder.</summary>
    public static Option<string?> RendererOption() => new("--renderer")
    {
        Description = "With --model RUN of an ldm1/ldm2 run: the renderer run whose latest renderer.pt completes the model folder.",
    };

    public static string CacheRoot() => Path.Combine(EndpointFile.DataDir(), "models");

    /// <summary>
    /// The model folder for <paramref name="model"/>; a run (with <paramref name="renderer"/>'s renderer for an ldm run)
    /// is pulled through the cluster at <paramref name="cluster"/> when not cached.
    /// </summary>
    public static async Task<string> ResolveAsync(string model, string? renderer, string? cluster, CancellationToken cancel)
    {
        if (Directory.Exists(model))
            return renderer == null ? model : throw new ArgumentException($"--renderer {renderer}: it completes the model of a run; --model {model} is a folder");
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
            var stage = (await client.Grains.GetGrain<ITrainingRunGrain>(model).GetDetails())?.Launch?.Stage;
            if (stage is "vae" or "renderer")
                throw new ArgumentException($"--model {model}: a {stage} run is not a model; give an ldm1 or ldm2 run (with --renderer RUN)");
            if (stage is "ldm1" or "ldm2" && renderer == null)
                throw new ArgumentException($"--model {model}: an {stage} run's model folder needs a renderer; add --renderer RUN (a renderer run of this cluster, see `gid runs`)");
            CheckpointView? rendererLatest = null;
            if (renderer != null)
            {
                IReadOnlyList<CheckpointView> rendererCheckpoints;
                try
                {
                    rendererCheckpoints = await CheckpointPull.ListAsync(client, renderer);
                }
                catch (ClusterClientException e)
                {
                    throw new ArgumentException($"--renderer {renderer}: {e.Message}");
                }
                rendererLatest = rendererCheckpoints.LastOrDefault() ?? throw new InvalidDataException($"--renderer {renderer}: run '{renderer}' has no checkpoints yet");
            }
            var dir = Path.Combine(CacheRoot(), model, $"step-{latest.Step:D8}-{Key(latest, rendererLatest)}");
            if (File.Exists(Path.Combine(dir, CompleteMarker)))
            {
                Console.WriteLine($"model: run {model} step {latest.Step}, cached in {dir}");
                return dir;
            }
            // Pulled beside the cache entry and renamed into place whole, so an interrupted pull is never taken for a model.
            var part = dir + ".part";
            if (Directory.Exists(part)) Directory.Delete(part, recursive: true);
            Console.WriteLine($"model: pulling run {model} step {latest.Step} into {dir}");
            await CheckpointPull.PullAsync(client, client.OpenBlobs(null), model, latest, part, cancel, renderer);
            await File.WriteAllTextAsync(Path.Combine(part, CompleteMarker), $"{model} step {latest.Step}\n", cancel);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.Move(part, dir);
            return dir;
        }
    }

    private const string CompleteMarker = ".pulled";

    /// <summary>A hash of the files' SHA-256s (the renderer run's too): a different checkpoint or renderer is a different cache entry.</summary>
    private static string Key(CheckpointView checkpoint, CheckpointView? renderer)
    {
        var files = checkpoint.Files.Concat(renderer?.Files ?? []);
        var all = string.Join("\n", files.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => f.Path + " " + f.Sha256));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(all)))[..12];
    }
}
