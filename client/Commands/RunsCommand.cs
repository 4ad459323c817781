using System.CommandLine;
using GidCluster.Contracts;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid runs</c>: training runs known to the cluster (the run catalog and run grains), with their latest checkpoint;
/// <c>gid runs show RUN</c>: one run's launch, state, restarts, latest figures and checkpoints.
/// </summary>
public static class RunsCommand
{
    public static Command Create()
    {
        var command = new Command("runs", "List training runs and their checkpoints.") { Show() };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid runs", async () =>
        {
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            var runs = new List<RunView>();
            foreach (var id in await client.Grains.GetGrain<ICatalogGrain>(Catalogs.TrainingRuns).List(1000))
            {
                if (await client.Grains.GetGrain<ITrainingRunGrain>(id).GetView() is { } run)
                    runs.Add(run);
            }
            if (runs.Count == 0)
            {
                Console.WriteLine("no training runs");
                return 0;
            }
            var table = new Table().AddColumns("run", "state", "created", "checkpoints", "latest step", "error");
            foreach (var r in runs)
                table.AddRow(Markup.Escape(r.Id), r.State, r.CreatedAt.ToString("u"), r.Checkpoints.ToString(), r.LatestStep?.ToString() ?? "", Markup.Escape(r.Error ?? ""));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var run = new Argument<string>("run") { Description = "The run id (see `gid runs`)." };
        var command = new Command("show", "Show one run: launch, state, restarts, loss, samples/s, step/s and checkpoints.") { run };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid runs show", async () =>
        {
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            var id = parse.GetValue(run)!;
            var grain = client.Grains.GetGrain<ITrainingRunGrain>(id);
            var d = await grain.GetDetails() ?? throw new ClusterClientException($"no training run '{id}' in this cluster (see `gid runs`)");
            Console.WriteLine($"run {d.Run.Id}: {d.Run.State}{(d.Run.Error is null ? "" : $" ({d.Run.Error})")}");
            if (d.Launch is { } l)
                Console.WriteLine($"  stage {l.Stage}, dataset {l.Dataset}, {l.Ranks} rank(s), config {l.Config}{(l.From is null ? "" : $", from {l.From}")}, batch {l.BatchSize}/rank, {l.Steps} steps");
            if (d.Attempt is { } attempt)
                Console.WriteLine($"  ranks join (gid train join --run {d.Run.Id}): attempt {attempt}, {d.Joined} of {d.Launch?.Ranks} joined");
            Console.WriteLine(FormattableString.Invariant($"  step {d.Step?.ToString() ?? "-"}, loss {d.Loss?.ToString("G5") ?? "-"}, {d.SamplesPerSecond?.ToString("F2") ?? "-"} samples/s, {d.StepsPerSecond?.ToString("F2") ?? "-"} step/s, restarts {d.Restarts}"));
            foreach (var c in await grain.ListCheckpoints())
                Console.WriteLine($"  checkpoint step {c.Step}: {string.Join(", ", c.Files.Select(f => $"{f.Path} ({f.Size} bytes)"))}");
            return 0;
        }));
        return command;
    }
}
