using System.CommandLine;
using GidCluster.Contracts;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary><c>gid runs</c>: training runs known to the cluster (the run catalog and run grains), with their latest checkpoint.</summary>
public static class RunsCommand
{
    public static Command Create()
    {
        var command = new Command("runs", "List training runs and their checkpoints.");
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
}
