using System.CommandLine;
using GidCluster.Contracts;
using GidCluster.Grains.Ingestion;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary><c>gid ingest submit VIDEOS… [--wait]</c> and <c>gid ingest status JOB</c>: calls on the job grain, through the cluster's gateway.</summary>
public static class IngestCommand
{
    private static readonly string[] Finished = [JobStates.Succeeded, JobStates.Failed];

    public static Command Create()
    {
        var command = new Command("ingest", "Turn videos into a dataset on the cluster (one video grain per video, then a dataset merge and a manifest).")
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
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid ingest submit", async () =>
        {
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            // Relative paths mean this directory; the silo sees absolute ones.
            var paths = parse.GetValue(videos)!.Select(v => v.Contains("://", StringComparison.Ordinal) || v.StartsWith("file:", StringComparison.Ordinal) ? v : Path.GetFullPath(v)).ToList();
            var grain = client.Grains.GetGrain<IIngestionJobGrain>(IngestionJobs.NewJobId(DateTimeOffset.UtcNow));
            var job = await grain.Submit(new SubmitIngestionRequest(paths, parse.GetValue(dataset), parse.GetValue(pipeline)));
            Console.WriteLine($"job {job.Id}: {job.Total} videos, pipeline {job.Pipeline}, dataset {job.Dataset}");
            if (!parse.GetValue(wait))
                return 0;
            job = await FollowAsync(grain, job, cancel);
            Print(job);
            return job.State == JobStates.Succeeded ? 0 : 1;
        }));
        return command;
    }

    private static Command Status()
    {
        var job = new Argument<string>("job") { Description = "The job id `gid ingest submit` printed." };
        var command = new Command("status", "Show an ingestion job and its videos.") { job };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid ingest status", async () =>
        {
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            var id = parse.GetValue(job)!;
            var view = await client.Grains.GetGrain<IIngestionJobGrain>(id).GetView(withVideos: true)
                ?? throw new ClusterClientException($"no ingestion job '{id}' in this cluster (`gid ingest submit` prints the ids)");
            Print(view);
            var table = new Table().AddColumns("video", "state", "attempts", "rows", "silo", "error");
            foreach (var v in view.Videos)
                table.AddRow(Markup.Escape(v.Id), v.State, v.Attempts.ToString(), v.Rows?.ToString() ?? "", Markup.Escape(v.Silo ?? ""), Markup.Escape(v.Error ?? ""));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    /// <summary>Polls the job grain and draws a live progress bar of finished videos until it succeeds or fails.</summary>
    internal static async Task<JobView> FollowAsync(IIngestionJobGrain grain, JobView job, CancellationToken cancel)
    {
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var bar = ctx.AddTask(Describe(job), maxValue: job.Total + 1);
                while (!Finished.Contains(job.State))
                {
                    await Task.Delay(500, cancel);
                    job = await grain.GetView(withVideos: false) ?? throw new ClusterClientException($"job {job.Id} disappeared");
                    bar.Description = Describe(job);
                    // The last step of the bar is the merge.
                    bar.Value = job.Done + (job.State == JobStates.Succeeded ? 1 : 0);
                }
                bar.StopTask();
            });
        return await grain.GetView(withVideos: true) ?? job;
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

/// <summary>Runs a cluster command: cluster, grain and I/O errors become one line on stderr and exit code 2, as bad input does everywhere in gid.</summary>
public static class Cli
{
    public static async Task<int> RunAsync(string name, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is ClusterClientException or IOException or InvalidDataException or ArgumentException or InvalidOperationException
            or TimeoutException or Orleans.Runtime.OrleansException)
        {
            Console.Error.WriteLine($"{name}: {e.Message}");
            return UserErrors.ExitCode;
        }
    }
}
