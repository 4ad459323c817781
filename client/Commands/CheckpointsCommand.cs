using System.CommandLine;
using GidCluster.Contracts;
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
            var checkpoints = await CheckpointPull.ListAsync(client, parse.GetValue(run)!);
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
        var renderer = new Option<string?>("--renderer") { Description = "For an ldm1/ldm2 run: the renderer run whose latest renderer.pt completes the model folder." };
        var command = new Command("pull", "Download a checkpoint from the blob store and verify each file's SHA-256.") { run, step, output, blob, renderer };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid checkpoints pull", async () =>
        {
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            var runId = parse.GetValue(run)!;
            var checkpoints = await CheckpointPull.ListAsync(client, runId);
            var wanted = parse.GetValue(step);
            var checkpoint = wanted == null ? checkpoints.LastOrDefault() : checkpoints.FirstOrDefault(c => c.Step == wanted);
            if (checkpoint == null)
                throw new ClusterClientException(wanted == null ? $"run '{runId}' has no checkpoints" : $"run '{runId}' has no checkpoint at step {wanted} (steps: {string.Join(", ", checkpoints.Select(c => c.Step))})");
            await CheckpointPull.PullAsync(client, client.OpenBlobs(parse.GetValue(blob)), runId, checkpoint, Path.GetFullPath(parse.GetValue(output)!), cancel, parse.GetValue(renderer));
            return 0;
        }));
        return command;
    }
}
