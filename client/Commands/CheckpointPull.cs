using System.Text.Json.Nodes;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;

namespace GidCluster.Client.Commands;

/// <summary>
/// A run's checkpoints from the cluster: the run grain lists the files, they are read from the blob store directly
/// and SHA-256 verified. Shared by <c>gid checkpoints pull</c> and <c>--model RUN</c> (<see cref="ModelSource"/>).
/// </summary>
public static class CheckpointPull
{
    /// <summary>
    /// Downloads <paramref name="checkpoint"/>'s files of <paramref name="runId"/> into <paramref name="dir"/>, each SHA-256
    /// verified, and for an ldm1/ldm2 run assembles the model folder (with <paramref name="rendererRun"/>'s latest
    /// renderer.pt when given). Returns model.json's path, or null.
    /// </summary>
    public static async Task<string?> PullAsync(ClusterClient client, IBlobStore blobs, string runId, CheckpointView checkpoint, string dir, CancellationToken cancel,
        string? rendererRun = null)
    {
        Directory.CreateDirectory(dir);
        foreach (var file in checkpoint.Files)
        {
            var target = Path.Combine(dir, Path.GetFileName(file.Path));
            await BlobFiles.DownloadVerifiedAsync(blobs, file.Path, file.Sha256, target, cancel);
            Console.WriteLine($"{file.Path} → {target} ({file.Size} bytes, sha256 ok)");
        }
        Console.WriteLine($"pulled step {checkpoint.Step} of {runId}: {checkpoint.Files.Count} files verified");
        var model = await AssembleModelFolderAsync(client, blobs, runId, rendererRun, dir, cancel);
        if (model is not null)
            Console.WriteLine($"model folder: {model}");
        return model;
    }

    /// <summary>
    /// For an ldm1/ldm2 run: follows <c>--from</c> to the VAE run, pulls its latest <c>vae.pt</c> beside the run's
    /// <c>ldm.pt</c>, with <paramref name="rendererRun"/> pulls that renderer run's latest <c>renderer.pt</c>, and writes
    /// <c>model.json</c> (the model-folder contract shared with inference). Returns its path, or null for a run that is
    /// not a latent diffusion stage.
    /// </summary>
    private static async Task<string?> AssembleModelFolderAsync(ClusterClient client, IBlobStore blobs, string runId, string? rendererRun, string dir, CancellationToken cancel)
    {
        var details = await client.Grains.GetGrain<ITrainingRunGrain>(runId).GetDetails();
        if (details?.Launch is not { Stage: "ldm1" or "ldm2" } launch)
        {
            if (rendererRun is not null)
                throw new ClusterClientException($"--renderer completes the model folder of an ldm1/ldm2 run; {runId} is a {details?.Launch?.Stage ?? "unlaunched"} run");
            return null;
        }
        var vaeRun = launch.From!;
        if (launch.Stage == "ldm2")
        {
            var parent = await client.Grains.GetGrain<ITrainingRunGrain>(launch.From!).GetDetails();
            vaeRun = parent?.Launch?.From ?? throw new ClusterClientException($"run {launch.From} (the stage-1 run of {runId}) records no VAE run");
        }
        var vae = (await ListAsync(client, vaeRun)).LastOrDefault()?.Files.FirstOrDefault(f => f.Path.EndsWith("/vae.pt", StringComparison.Ordinal))
            ?? throw new ClusterClientException($"VAE run {vaeRun} has no vae.pt checkpoint");
        await BlobFiles.DownloadVerifiedAsync(blobs, vae.Path, vae.Sha256, Path.Combine(dir, "vae.pt"), cancel);
        Console.WriteLine($"{vae.Path} → {Path.Combine(dir, "vae.pt")} ({vae.Size} bytes, sha256 ok)");
        if (rendererRun is not null)
        {
            var rendererDetails = await client.Grains.GetGrain<ITrainingRunGrain>(rendererRun).GetDetails();
            if (rendererDetails?.Launch?.Stage != "renderer")
                throw new ClusterClientException($"--renderer {rendererRun}: not a renderer run ({rendererDetails?.Launch?.Stage ?? "no such launched run"})");
            var file = (await ListAsync(client, rendererRun)).LastOrDefault()?.Files.FirstOrDefault(f => f.Path.EndsWith("/renderer.pt", StringComparison.Ordinal))
                ?? throw new ClusterClientException($"renderer run {rendererRun} has no renderer.pt checkpoint");
            await BlobFiles.DownloadVerifiedAsync(blobs, file.Path, file.Sha256, Path.Combine(dir, "renderer.pt"), cancel);
            Console.WriteLine($"{file.Path} → {Path.Combine(dir, "renderer.pt")} ({file.Size} bytes, sha256 ok)");
        }
        var facts = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "dataset.json"), cancel))!.AsObject();
        var model = new JsonObject
        {
            ["format"] = "gid-model/1",
            ["config"] = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "config.json"), cancel)),
            ["ldm_stage"] = launch.Stage,
            ["scales"] = facts["scales"]!.DeepClone(),
            ["frequencies_hz"] = facts["frequencies_hz"]!.DeepClone(),
            ["fps"] = facts["fps"]!.DeepClone(),
            ["frame_size"] = facts["frame_size"]!.DeepClone(),
            ["runs"] = new JsonObject { ["vae"] = vaeRun, ["ldm"] = runId, ["renderer"] = rendererRun },
        };
        var path = Path.Combine(dir, "model.json");
        await File.WriteAllTextAsync(path, model.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), cancel);
        return path;
    }

    public static async Task<IReadOnlyList<CheckpointView>> ListAsync(ClusterClient client, string runId)
    {
        var grain = client.Grains.GetGrain<ITrainingRunGrain>(runId);
        if (await grain.GetView() == null)
            throw new ClusterClientException($"no training run '{runId}' in this cluster (see `gid runs`)");
        return await grain.ListCheckpoints();
    }
}
