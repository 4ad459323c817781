using System.CommandLine;
using System.Security.Cryptography;
using GidCluster.Contracts;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary><c>gid checkpoints list RUN</c> and <c>gid checkpoints pull RUN [--step N] --out DIR</c> (verifies every file's SHA-256).</summary>
public static class CheckpointsCommand
{
    public static Command Create() => new("checkpoints", "List or download a training run's checkpoints.") { List(), Pull() };

    private static Command List()
    {
        var run = new Argument<string>("run") { Description = "The run id (see `gid runs`)." };
        var command = new Command("list", "List a run's checkpoints.") { run };
        var connection = ClusterClient.AddConnectionOptions(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid checkpoints list", async () =>
        {
            using var client = ClusterClient.Connect(parse, connection);
            var checkpoints = await client.GetAsync<List<CheckpointView>>($"api/runs/{Uri.EscapeDataString(parse.GetValue(run)!)}/checkpoints", cancel);
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
        var command = new Command("pull", "Download a checkpoint and verify each file's SHA-256.") { run, step, output };
        var connection = ClusterClient.AddConnectionOptions(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid checkpoints pull", async () =>
        {
            using var client = ClusterClient.Connect(parse, connection);
            var runId = parse.GetValue(run)!;
            var checkpoints = await client.GetAsync<List<CheckpointView>>($"api/runs/{Uri.EscapeDataString(runId)}/checkpoints", cancel);
            var wanted = parse.GetValue(step);
            var checkpoint = wanted == null ? checkpoints.LastOrDefault() : checkpoints.FirstOrDefault(c => c.Step == wanted);
            if (checkpoint == null)
                throw new ClusterClientException(wanted == null ? $"run '{runId}' has no checkpoints" : $"run '{runId}' has no checkpoint at step {wanted} (steps: {string.Join(", ", checkpoints.Select(c => c.Step))})");
            var dir = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(dir);
            foreach (var file in checkpoint.Files)
            {
                var target = Path.Combine(dir, Path.GetFileName(file.Path));
                await DownloadVerifiedAsync(client, file, target, cancel);
                Console.WriteLine($"{file.Path} → {target} ({file.Size} bytes, sha256 ok)");
            }
            Console.WriteLine($"pulled step {checkpoint.Step} of {runId}: {checkpoint.Files.Count} files verified");
            return 0;
        }));
        return command;
    }

    /// <summary>Streams one file to a temp name while hashing it; only a file whose SHA-256 matches the record is renamed into place.</summary>
    private static async Task DownloadVerifiedAsync(ClusterClient client, CheckpointFileView file, string target, CancellationToken cancel)
    {
        var temp = target + ".part";
        try
        {
            using var response = await client.DownloadAsync(file.Path, cancel);
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var input = await response.Content.ReadAsStreamAsync(cancel))
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
