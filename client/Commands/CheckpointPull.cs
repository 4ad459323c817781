using System.Security.Cryptography;
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
            await DownloadVerifiedAsync(blobs, file, target, cancel);
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
        await DownloadVerifiedAsync(blobs, vae, Path.Combine(dir, "vae.pt"), cancel);
        Console.WriteLine($"{vae.Path} → {Path.Combine(dir, "vae.pt")} ({vae.Size} bytes, sha256 ok)");
        if (rendererRun is not null)
        {
            var rendererDetails = await client.Grains.GetGrain<ITrainingRunGrain>(rendererRun).GetDetails();
            if (rendererDetails?.Launch?.Stage != "renderer")
                throw new ClusterClientException($"--renderer {rendererRun}: not a renderer run ({rendererDetails?.Launch?.Stage ?? "no such launched run"})");
            var file = (await ListAsync(client, rendererRun)).LastOrDefault()?.Files.FirstOrDefault(f => f.Path.EndsWith("/renderer.pt", StringComparison.Ordinal))
                ?? throw new ClusterClientException($"renderer run {rendererRun} has no renderer.pt checkpoint");
            await DownloadVerifiedAsync(blobs, file, Path.Combine(dir, "renderer.pt"), cancel);
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

    /// <summary>Streams one file to a temp name while hashing it; only a file whose SHA-256 matches the record is renamed into place.</summary>
    private static async Task DownloadVerifiedAsync(IBlobStore blobs, CheckpointFileView file, string target, CancellationToken cancel)
    {
        var temp = target + ".part";
        try
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var input = await blobs.OpenReadAsync(file.Path, cancel))
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
            if (actual != file.Sha256)
                throw new InvalidDataException($"{file.Path}: sha256 mismatch (recorded {file.Sha256}, downloaded {actual}); the file was not kept");
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
