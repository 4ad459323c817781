using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid checkpoints list RUN</c> and <c>gid checkpoints pull RUN [--step N] --out DIR</c>: the run grain lists the
/// checkpoint's files; the pull reads them from the blob store directly and verifies every file's SHA-256. Pulling an
/// ldm1/ldm2 run assembles the model folder (<c>model.json</c>, <c>vae.pt</c>, <c>ldm.pt</c>) by following <c>--from</c>.
/// </summary>
public static class CheckpointsCommand
{
    public static Command Create() => new("checkpoints", "List or download a training run's checkpoints.") { List(), Pull() };

    private static Command List()
    {
        var run = new Argument<string>("run") { Description = "The run id (see `gid runs`)." };
        var command = new Command("list", "List a run's checkpoints.") { run };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid checkpoints list", async () =>
        {
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            var checkpoints = await CheckpointsAsync(client, parse.GetValue(run)!);
            var table = new Table().AddColumns("step", "created", "files", "bytes");
            foreach (var c in checkpoints)
                table.AddRow(c.Step.ToString(), c.CreatedAt.ToString("u"), c.Files.Count.ToString(), c.Files.Sum(f => f.Size).ToString());
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Pull()
    {
        var run = new Argument<string>("run") { Description = "The run id." };
        var step = new Option<long?>("--step") { Description = "Which step (default: the latest)." };
        var output = new Option<string>("--out") { Description = "Folder to write the checkpoint's files into.", Required = true };
        var blob = new Option<string?>("--blob") { Description = "The cluster's blob store URI (default: $GID_BLOB, else the one `gid up` recorded)." };
        var command = new Command("pull", "Download a checkpoint from the blob store and verify each file's SHA-256.") { run, step, output, blob };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid checkpoints pull", async () =>
        {
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            return await PullAsync(client, client.OpenBlobs(parse.GetValue(blob)), parse.GetValue(run)!, parse.GetValue(step), parse.GetValue(output)!, cancel);
        }));
        return command;
    }

    /// <summary>Pulls one checkpoint of a run (the latest when <paramref name="wanted"/> is null) and assembles the model folder.</summary>
    internal static async Task<int> PullAsync(ClusterClient client, IBlobStore blobs, string runId, long? wanted, string output, CancellationToken cancel)
    {
        var checkpoints = await CheckpointsAsync(client, runId);
        var checkpoint = wanted == null ? checkpoints.LastOrDefault() : checkpoints.FirstOrDefault(c => c.Step == wanted);
        if (checkpoint == null)
            throw new ClusterClientException(wanted == null ? $"run '{runId}' has no checkpoints" : $"run '{runId}' has no checkpoint at step {wanted} (steps: {string.Join(", ", checkpoints.Select(c => c.Step))})");
        var dir = Path.GetFullPath(output);
        Directory.CreateDirectory(dir);
        foreach (var file in checkpoint.Files)
        {
            var target = Path.Combine(dir, Path.GetFileName(file.Path));
            await DownloadVerifiedAsync(blobs, file, target, cancel);
            Console.WriteLine($"{file.Path} → {target} ({file.Size} bytes, sha256 ok)");
        }
        Console.WriteLine($"pulled step {checkpoint.Step} of {runId}: {checkpoint.Files.Count} files verified");
        if (await AssembleModelFolderAsync(client, blobs, runId, dir, cancel) is { } model)
            Console.WriteLine($"model folder: {model}");
        return 0;
    }

    /// <summary>
    /// For an ldm1/ldm2 run: follows <c>--from</c> to the VAE run, pulls its latest <c>vae.pt</c> beside the run's
    /// <c>ldm.pt</c> and writes <c>model.json</c> (the model-folder contract shared with inference). Returns its path,
    /// or null for a run that is not a latent diffusion stage.
    /// </summary>
    private static async Task<string?> AssembleModelFolderAsync(ClusterClient client, IBlobStore blobs, string runId, string dir, CancellationToken cancel)
    {
        var details = await client.Grains.GetGrain<ITrainingRunGrain>(runId).GetDetails();
        if (details?.Launch is not { Stage: "ldm1" or "ldm2" } launch)
            return null;
        var vaeRun = launch.From!;
        if (launch.Stage == "ldm2")
        {
            var parent = await client.Grains.GetGrain<ITrainingRunGrain>(launch.From!).GetDetails();
            vaeRun = parent?.Launch?.From ?? throw new ClusterClientException($"run {launch.From} (the stage-1 run of {runId}) records no VAE run");
        }
        var vae = (await CheckpointsAsync(client, vaeRun)).LastOrDefault()?.Files.FirstOrDefault(f => f.Path.EndsWith("/vae.pt", StringComparison.Ordinal))
            ?? throw new ClusterClientException($"VAE run {vaeRun} has no vae.pt checkpoint");
        await DownloadVerifiedAsync(blobs, vae, Path.Combine(dir, "vae.pt"), cancel);
        Console.WriteLine($"{vae.Path} → {Path.Combine(dir, "vae.pt")} ({vae.Size} bytes, sha256 ok)");
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
            ["runs"] = new JsonObject { ["vae"] = vaeRun, ["ldm"] = runId, ["renderer"] = null },
        };
        var path = Path.Combine(dir, "model.json");
        await File.WriteAllTextAsync(path, model.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), cancel);
        return path;
    }

    private static async Task<IReadOnlyList<CheckpointView>> CheckpointsAsync(ClusterClient client, string runId)
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
