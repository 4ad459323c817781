using System.CommandLine;
using GidCluster.Contracts;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary><c>gid ingest submit VIDEOS… [--wait]</c> and <c>gid ingest status JOB</c>.</summary>
public static class IngestCommand
{
    private static readonly string[] Finished = ["succeeded", "failed"];

    public static Command Create()
    {
        var command = new Command("ingest", "Turn videos into a dataset on the cluster (one grain per video, then a statistics merge and a manifest).")
        {
            Submit(),
            Status(),
        };
        return command;
    }

    private static Command Submit()
    {
        var videos = new Argument<string[]>("videos") { Description = "Video files (paths under the silo's allowed roots).", Arity = ArgumentArity.OneOrMore };
        var dataset = new Option<string?>("--dataset") { Description = "Dataset name (blob prefix datasets/NAME; default: the job id)." };
        var pipeline = new Option<string?>("--pipeline") { Description = "Ingestion pipeline (default: the silo's)." };
        var wait = new Option<bool>("--wait") { Description = "Follow the job with a progress bar until it finishes." };
        var command = new Command("submit", "Submit an ingestion job.") { videos, dataset, pipeline, wait };
        var connection = ClusterClient.AddConnectionOptions(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid ingest submit", async () =>
        {
            using var client = ClusterClient.Connect(parse, connection);
            // Relative paths mean this directory; the silo sees absolute ones.
            var paths = parse.GetValue(videos)!.Select(v => v.Contains("://", StringComparison.Ordinal) || v.StartsWith("file:", StringComparison.Ordinal) ? v : Path.GetFullPath(v)).ToList();
            var job = await client.PostAsync<JobView>("api/ingestion/jobs", new SubmitIngestionRequest(paths, parse.GetValue(dataset), parse.GetValue(pipeline)), cancel);
            Console.WriteLine($"job {job.Id}: {job.Total} videos, pipeline {job.Pipeline}, dataset {job.Dataset}");
            if (!parse.GetValue(wait))
                return 0;
            job = await FollowAsync(client, job, cancel);
            Print(job);
            return job.State == "succeeded" ? 0 : 1;
        }));
        return command;
    }

    private static Command Status()
    {
        var job = new Argument<string>("job") { Description = "The job id `gid ingest submit` printed." };
        var command = new Command("status", "Show an ingestion job and its videos.") { job };
        var connection = ClusterClient.AddConnectionOptions(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid ingest status", async () =>
        {
            using var client = ClusterClient.Connect(parse, connection);
            var view = await client.GetAsync<JobView>($"api/ingestion/jobs/{Uri.EscapeDataString(parse.GetValue(job)!)}", cancel);
            Print(view);
            var table = new Table().AddColumns("video", "state", "attempts", "rows", "error");
            foreach (var v in view.Videos)
                table.AddRow(Markup.Escape(v.Id), v.State, v.Attempts.ToString(), v.Rows?.ToString() ?? "", Markup.Escape(v.Error ?? ""));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    /// <summary>Polls the job and draws a live progress bar of finished videos until it succeeds or fails.</summary>
    internal static async Task<JobView> FollowAsync(ClusterClient client, JobView job, CancellationToken cancel)
    {
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var bar = ctx.AddTask(Describe(job), maxValue: job.Total + 1);
                while (!Finished.Contains(job.State))
                {
                    await Task.Delay(500, cancel);
                    job = await client.GetAsync<JobView>($"api/ingestion/jobs/{job.Id}", cancel);
                    bar.Description = Describe(job);
                    // The last step of the bar is the merge.
                    bar.Value = job.Done + (job.State == "succeeded" ? 1 : 0);
                }
                bar.StopTask();
            });
        return job;
    }

    private static string Describe(JobView j) =>
        Markup.Escape($"{j.Id} {j.State}: {j.Done}/{j.Total} done, {j.Running} running" + (j.Quarantined > 0 ? $", {j.Quarantined} failed" : ""));

    private static void Print(JobView job)
    {
        Console.WriteLine($"job {job.Id}: {job.State}; {job.Done}/{job.Total} videos done, {job.Running} running, {job.Pending} pending, {job.Quarantined} quarantined");
        if (job.Manifest != null)
            Console.WriteLine($"manifest: {job.Manifest} (sha256 {job.ManifestSha256}), {job.Rows} rows");
        if (job.Error != null)
            Console.WriteLine($"error: {job.Error}");
    }
}

/// <summary>Runs a cluster command: cluster and I/O errors become one line on stderr and exit code 1.</summary>
public static class Cli
{
    public static async Task<int> RunAsync(string name, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is ClusterClientException or IOException or InvalidDataException)
        {
            Console.Error.WriteLine($"{name}: {e.Message}");
            return 1;
        }
    }
}
