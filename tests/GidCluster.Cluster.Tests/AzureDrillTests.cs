using System.Diagnostics;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using GidCluster.Contracts;
using GidCluster.Grains.Work;
using GidCluster.Silo.Hosting;
using GidCluster.TestSupport;
using Xunit.Abstractions;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// Kill drills over the multi-machine providers: a coordinator silo process and two worker silo processes
/// with <c>--store azure</c> (Orleans' Azure Table Storage clustering, grain state and reminders) on a real
/// Azurite, blobs in a shared directory. SIGKILL the worker running a video, or the coordinator holding the
/// job grain (a second coordinator takes the job over): the job completes, every video
/// (and, for dataprep, every (video, start frame)) once, the dataset byte-identical to the uninterrupted run.
/// Prints detection time (SIGKILL → membership declares the silo dead) and recovery time.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed class AzureDrillTests(DrillFixture fixture, AzureDrillTests.Storage azurite, ITestOutputHelper output) : IClassFixture<AzureDrillTests.Storage>
{
    /// <summary>Azurite for this class: the silos get its connection string through this variable, never on a command line.</summary>
    public sealed class Storage : IDisposable
    {
        public AzuriteServer Server { get; } = new();

        public void Dispose() => Server.Dispose();
    }

    private const string Variable = "GID_DRILL_STORAGE";

    private sealed class Cluster(string dir, string videos, AzuriteServer azurite) : IDisposable
    {
        // A cluster and service id of its own: several drills share one Azurite account.
        private readonly string _id = $"drill{Guid.NewGuid():N}"[..13];
        private readonly List<SiloProcess> _silos = [];

        public SiloProcess Start(string name, string role)
        {
            string[] args =
            [
                "--role", role, "--store", $"azure?connection-env={Variable}", "--blob", $"file:{dir}/blobs", "--urls", "http://127.0.0.1:0",
                "--allow", videos, "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{FreePorts.Next()}", "--cluster-id", _id, "--service-id", _id,
                "--slots", "1", "--check-seconds", "1", "--reminder-seconds", "2",
            ];
            var silo = new SiloProcess(name, args, role == SiloRoles.Worker ? null : DrillTests.Token,
                environment: new Dictionary<string, string> { [Variable] = azurite.ConnectionString });
            _silos.Add(silo);
            return silo;
        }

        /// <summary>Starts a silo and waits until it listens: one at a time, so that start-ups on a busy machine do not pile up.</summary>
        public async Task<SiloProcess> StartedAsync(string name, string role)
        {
            var silo = Start(name, role);
            await silo.ListeningAsync(TimeSpan.FromSeconds(180));
            return silo;
        }

        public string Output => string.Join('\n', _silos.Select(s => $"--- {s.Id}\n{s.Output}"));

        /// <summary>Polls Orleans' membership table in Azurite itself until <paramref name="silo"/>'s row says Dead; returns when.</summary>
        public async Task<TimeSpan> DeclaredDeadAsync(string silo, Stopwatch sinceKill)
        {
            var table = new TableClient(azurite.ConnectionString, "OrleansSiloInstances");
            string? status = null;
            await Waits.UntilAsync(async () =>
            {
                await foreach (var row in table.QueryAsync<TableEntity>(e => e.PartitionKey == _id))
                {
                    if (row.GetString("SiloName") == silo)
                        status = row.GetString("Status");
                }
                return status == "Dead";
            }, TimeSpan.FromSeconds(60), () => $"{silo} is {status ?? "absent"} in the membership table");
            return sinceKill.Elapsed;
        }

        public void Dispose()
        {
            foreach (var s in _silos)
                s.Dispose();
        }
    }

    private static async Task<HttpClient> JoinedAsync(SiloProcess coordinator, params SiloProcess[] workers)
    {
        var http = new HttpClient { BaseAddress = new Uri(await coordinator.ListeningAsync() + "/") };
        await Task.WhenAll(workers.Select(w => w.ListeningAsync()));
        await Waits.UntilAsync(async () => (await DrillTests.ClusterAsync(http)).Silos.Count(s => s.Alive && s.Role == "worker") == workers.Length,
            TimeSpan.FromSeconds(60), () => "the workers never joined");
        return http;
    }

    [Fact]
    public Task A_worker_killed_mid_video_on_azure_storage_loses_nothing_and_duplicates_nothing() =>
        RunAsync("azure-worker-kill", WorkerKillAsync);

    [Fact]
    public Task The_coordinator_holding_the_job_killed_on_azure_storage_the_job_completes_on_the_other() =>
        RunAsync("azure-coordinator-kill", CoordinatorKillAsync);

    /// <summary>Runs a drill on a fresh cluster; on failure the silos' output goes to the test log.</summary>
    private async Task RunAsync(string name, Func<string, Cluster, Task> drill)
    {
        var dir = Path.Combine(fixture.Dir.Path, name);
        using var cluster = new Cluster(dir, fixture.Videos, azurite.Server);
        try
        {
            await drill(dir, cluster);
        }
        catch
        {
            output.WriteLine(cluster.Output);
            throw;
        }
    }

    private async Task WorkerKillAsync(string dir, Cluster cluster)
    {
        var coordinator = await cluster.StartedAsync("coord", SiloRoles.Coordinator);
        var (w1, w2) = (await cluster.StartedAsync("w1", SiloRoles.Worker), await cluster.StartedAsync("w2", SiloRoles.Worker));
        using var http = await JoinedAsync(coordinator, w1, w2);

        // Kill w2 the moment it starts a video (not waiting for the submission's answer): it dies holding unfinished videos.
        var started = w2.NextLineAsync("started ", TimeSpan.FromSeconds(60));
        var submit = DrillTests.SubmitAsync(http, DrillTests.Token, fixture.VideoPaths, "drill");
        await started;
        // Watch for the rerun before the kill: under load w1 may restart a victim before the submission answers.
        var rerun = w1.NextLineAsync(" (attempt 2)", TimeSpan.FromSeconds(180));
        w2.Kill();
        var sinceKill = Stopwatch.StartNew();
        var job = await submit;
        // Its victims: videos w2 started and never finished (under load it may have finished some before the kill).
        var w2Lines = w2.Output;
        var victims = Regex.Matches(w2Lines, @"started \S+/(\S+) \(attempt 1\)").Select(m => m.Groups[1].Value)
            .Where(v => !w2Lines.Contains($"/{v} done after", StringComparison.Ordinal)).ToList();
        Assert.True(victims.Count > 0, $"w2 finished everything it started before the kill:\n{w2Lines}");

        var detected = await cluster.DeclaredDeadAsync("w2", sinceKill);
        await rerun;
        var recovered = sinceKill.Elapsed;
        var view = await DrillTests.WaitForAsync(http, DrillTests.Token, job, TimeSpan.FromSeconds(180));
        var finished = sinceKill.Elapsed;
        Assert.Equal("succeeded", view.State);
        // A victim's last state write may have landed just before the kill; most are run again, at least one surely.
        Assert.Contains(view.Videos, v => victims.Contains(v.Id) && v.Attempts == 2);
        Assert.All(view.Videos, v => Assert.Equal(VideoStates.Done, v.State));
        await DrillTests.AssertSameDatasetAsync(fixture, dir, "drill");
        output.WriteLine($"azure worker-kill drill ({DrillFixture.Pipeline}): w2 declared dead {detected.TotalSeconds:0.0} s after SIGKILL, "
            + $"{victims.Count} unfinished video(s), the first restarted on w1 at {recovered.TotalSeconds:0.0} s, job done at {finished.TotalSeconds:0.0} s");
        Assert.DoesNotContain(DrillTests.Token, cluster.Output);
        Assert.DoesNotContain(azurite.Server.Key, cluster.Output);
    }

    private async Task CoordinatorKillAsync(string dir, Cluster cluster)
    {
        var (c1, c2) = (await cluster.StartedAsync("c1", SiloRoles.Coordinator), await cluster.StartedAsync("c2", SiloRoles.Coordinator));
        var (w1, w2) = (await cluster.StartedAsync("w1", SiloRoles.Worker), await cluster.StartedAsync("w2", SiloRoles.Worker));
        using var http1 = await JoinedAsync(c1, w1, w2);
        using var http2 = await JoinedAsync(c2, w1, w2);
        await Waits.UntilAsync(async () => (await DrillTests.ClusterAsync(http1)).Silos.Count(s => s.Alive && s.Role == "coordinator") == 2,
            TimeSpan.FromSeconds(60), () => "the second coordinator never joined");

        // Placement picks either coordinator for the job grain; the one that logs the submission holds it.
        var submitted = new[] { c1, c2 }.Select(c => c.NextLineAsync(" submitted: ", TimeSpan.FromSeconds(60))).ToArray();
        var job = await DrillTests.SubmitAsync(http1, DrillTests.Token, fixture.VideoPaths, "drill");
        var holder = await Task.WhenAny(submitted) == submitted[0] ? c1 : c2;
        var (other, http) = holder == c1 ? (c2, http2) : (c1, http1);
        JobView? before = null;
        await Waits.UntilAsync(async () => (before = await DrillTests.ViewAsync(http, job))?.Done >= 2, TimeSpan.FromSeconds(120), () => $"{before?.Done} videos done");
        var resumed = other.NextLineAsync($"job {job} resumes", TimeSpan.FromSeconds(120));
        holder.Kill();
        var sinceKill = Stopwatch.StartNew();
        Assert.Equal(JobStates.Running, before!.State);
        Assert.True(before.Done < before.Total, "the job finished before the kill; the drill needs it mid-job");

        var detected = await cluster.DeclaredDeadAsync(holder.Id, sinceKill);
        await resumed; // the job grain's reminder (or the next call) activates it on the surviving coordinator
        var recovered = sinceKill.Elapsed;
        var view = await DrillTests.WaitForAsync(http, DrillTests.Token, job, TimeSpan.FromSeconds(180));
        var finished = sinceKill.Elapsed;
        Assert.Equal("succeeded", view.State);
        // Videos done before the kill are never run again.
        foreach (var done in before.Videos.Where(v => v.State == VideoStates.Done))
            Assert.Equal((VideoStates.Done, 1), (view.Videos.Single(v => v.Id == done.Id).State, view.Videos.Single(v => v.Id == done.Id).Attempts));
        Assert.All(view.Videos, v => Assert.Equal(VideoStates.Done, v.State));
        await DrillTests.AssertSameDatasetAsync(fixture, dir, "drill");
        output.WriteLine($"azure coordinator-kill drill ({DrillFixture.Pipeline}): {holder.Id} (holding the job) declared dead {detected.TotalSeconds:0.0} s after SIGKILL, "
            + $"job resumed on {other.Id} at {recovered.TotalSeconds:0.0} s, done at {finished.TotalSeconds:0.0} s");
        Assert.DoesNotContain(azurite.Server.Key, cluster.Output);
    }
}
