using System.Collections.Concurrent;
using GidCluster.Grains.Store;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>One contract for every store: SQLite always, PostgreSQL too (a real server on loopback).</summary>
public abstract class StoreContractTests : IAsyncLifetime
{
    protected readonly ManualClock Clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly List<IClusterStore> _opened = [];

    /// <summary>Opens a store over one fresh database per test; several calls return stores over the same database.</summary>
    protected abstract IClusterStore OpenStore(TimeProvider time);

    protected async Task<IClusterStore> StoreAsync(TimeProvider? time = null)
    {
        var s = OpenStore(time ?? Clock);
        _opened.Add(s);
        await s.MigrateAsync();
        return s;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _opened)
            await s.DisposeAsync();
    }

    private static readonly string[] Videos = [GrainKinds.Video];

    private static JobRecord Job(string id) => new(id, JobKinds.Ingestion, JobStates.Running, "{}", null, null, 0, 0);

    private static List<NewGrain> VideoGrains(string job, int n, int maxAttempts = 3) =>
        Enumerable.Range(0, n).Select(i => new NewGrain($"{job}/video/{i:D3}", job, GrainKinds.Video, $"{{\"i\":{i}}}", maxAttempts)).ToList();

    [Fact]
    public async Task Migrations_are_versioned_idempotent_and_safe_to_run_concurrently()
    {
        var a = await StoreAsync();
        var others = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => StoreAsync())));
        await a.MigrateAsync();
        Assert.Equal(2, await a.SchemaVersionAsync());
        foreach (var s in others)
            Assert.Equal(2, await s.SchemaVersionAsync());
    }

    [Fact]
    public async Task A_job_is_created_once_with_its_grains()
    {
        var s = await StoreAsync();
        Assert.True(await s.CreateJobAsync(Job("j1"), VideoGrains("j1", 3)));
        Assert.False(await s.CreateJobAsync(Job("j1"), VideoGrains("j1", 5)));
        var grains = await s.ListGrainsAsync("j1");
        Assert.Equal(["j1/video/000", "j1/video/001", "j1/video/002"], grains.Select(g => g.Id));
        Assert.All(grains, g => Assert.Equal((GrainStates.Pending, 0, 0L), (g.State, g.Attempts, g.Fence)));
        Assert.False(await s.AddGrainAsync(new NewGrain("j1/video/000", "j1", GrainKinds.Video, "{}")));
        Assert.True(await s.AddGrainAsync(new NewGrain("j1/merge", "j1", GrainKinds.StatisticsMerge, "{}")));
        Assert.Equal(JobStates.Running, (await s.GetJobAsync("j1"))!.State);
        Assert.Null(await s.GetJobAsync("nope"));
        Assert.True(await s.TransitionJobAsync("j1", JobStates.Running, JobStates.Succeeded, "{\"ok\":1}", null));
        Assert.False(await s.TransitionJobAsync("j1", JobStates.Running, JobStates.Failed, null, "late"));
        var job = await s.GetJobAsync("j1");
        Assert.Equal((JobStates.Succeeded, "{\"ok\":1}", (string?)null), (job!.State, job.Result, job.Error));
        Assert.Single(await s.ListJobsAsync(JobKinds.Ingestion));
        Assert.Empty(await s.ListJobsAsync(JobKinds.TrainingRun));
        Assert.Empty(await s.ListJobsInStatesAsync([JobStates.Running]));
    }

    [Fact]
    public async Task Claims_take_each_pending_grain_once_and_raise_fence_and_attempts()
    {
        var s = await StoreAsync();
        await s.CreateJobAsync(Job("j"), VideoGrains("j", 2));
        var a = await s.ClaimAsync("w1", Videos, TimeSpan.FromSeconds(5));
        var b = await s.ClaimAsync("w2", Videos, TimeSpan.FromSeconds(5));
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.NotEqual(a.GrainId, b.GrainId);
        Assert.Equal((1L, 1), (a.Fence, a.Attempt));
        Assert.Null(await s.ClaimAsync("w3", Videos, TimeSpan.FromSeconds(5)));
        Assert.Null(await s.ClaimAsync("w3", [GrainKinds.StatisticsMerge], TimeSpan.FromSeconds(5)));
        var g = await s.GetGrainAsync(a.GrainId);
        Assert.Equal((GrainStates.Leased, "w1", Clock.GetUtcNow().ToUnixTimeMilliseconds() + 5000), (g!.State, g.LeaseOwner, g.LeaseExpiresAt));
    }

    [Fact]
    public async Task An_expired_lease_is_rescued_with_a_higher_fence_and_the_old_owner_can_no_longer_write()
    {
        var s = await StoreAsync();
        await s.CreateJobAsync(Job("j"), VideoGrains("j", 1));
        var old = (await s.ClaimAsync("w1", Videos, TimeSpan.FromSeconds(2)))!;
        old = await s.HeartbeatAsync(old, TimeSpan.FromSeconds(2));
        Clock.Advance(TimeSpan.FromSeconds(1.5));
        Assert.Null(await s.ClaimAsync("w2", Videos, TimeSpan.FromSeconds(2))); // heartbeat kept it
        Clock.Advance(TimeSpan.FromSeconds(1));
        var rescued = (await s.ClaimAsync("w2", Videos, TimeSpan.FromSeconds(2)))!;
        Assert.Equal(old.GrainId, rescued.GrainId);
        Assert.True(rescued.Fence > old.Fence);
        Assert.Equal(2, rescued.Attempt);
        await Assert.ThrowsAsync<LeaseLostException>(() => s.HeartbeatAsync(old, TimeSpan.FromSeconds(2)));
        await Assert.ThrowsAsync<LeaseLostException>(() => s.CheckAsync(old));
        await Assert.ThrowsAsync<LeaseLostException>(() => s.CompleteAsync(old, "{\"by\":\"w1\"}"));
        await Assert.ThrowsAsync<LeaseLostException>(() => s.FailAsync(old, "late"));
        await s.CheckAsync(rescued);
        await s.CompleteAsync(rescued, "{\"by\":\"w2\"}");
        await Assert.ThrowsAsync<LeaseLostException>(() => s.CompleteAsync(rescued, "{\"again\":1}"));
        var g = (await s.GetGrainAsync(old.GrainId))!;
        Assert.Equal((GrainStates.Done, "{\"by\":\"w2\"}", (string?)null), (g.State, g.Result, g.LeaseOwner));
    }

    [Fact]
    public async Task Failures_retry_until_the_last_attempt_then_quarantine_with_the_error()
    {
        var s = await StoreAsync();
        await s.CreateJobAsync(Job("j"), VideoGrains("j", 1, maxAttempts: 2));
        var first = (await s.ClaimAsync("w", Videos, TimeSpan.FromSeconds(5)))!;
        Assert.Equal(GrainStates.Pending, await s.FailAsync(first, "decoder said no"));
        var second = (await s.ClaimAsync("w", Videos, TimeSpan.FromSeconds(5)))!;
        Assert.Equal(GrainStates.Quarantined, await s.FailAsync(second, "decoder said no again"));
        Assert.Null(await s.ClaimAsync("w", Videos, TimeSpan.FromSeconds(5)));
        var g = (await s.GetGrainAsync(first.GrainId))!;
        Assert.Equal((GrainStates.Quarantined, "decoder said no again", 2), (g.State, g.Error, g.Attempts));
    }

    [Fact]
    public async Task A_lease_that_expires_on_the_last_attempt_is_quarantined()
    {
        var s = await StoreAsync();
        await s.CreateJobAsync(Job("j"), VideoGrains("j", 1, maxAttempts: 1));
        var l = (await s.ClaimAsync("crashy", Videos, TimeSpan.FromSeconds(2)))!;
        Assert.Equal(0, await s.QuarantineExhaustedAsync());
        Clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Null(await s.ClaimAsync("w", Videos, TimeSpan.FromSeconds(2)));
        Assert.Equal(1, await s.QuarantineExhaustedAsync());
        var g = (await s.GetGrainAsync(l.GrainId))!;
        Assert.Equal(GrainStates.Quarantined, g.State);
        Assert.Contains("crashy", g.Error);
    }

    [Fact]
    public async Task Release_gives_the_grain_back_without_using_an_attempt()
    {
        var s = await StoreAsync();
        await s.CreateJobAsync(Job("j"), VideoGrains("j", 1, maxAttempts: 1));
        var l = (await s.ClaimAsync("draining", Videos, TimeSpan.FromSeconds(5)))!;
        await s.ReleaseAsync(l);
        await Assert.ThrowsAsync<LeaseLostException>(() => s.ReleaseAsync(l));
        var again = (await s.ClaimAsync("w", Videos, TimeSpan.FromSeconds(5)))!;
        Assert.Equal((1, 2L), (again.Attempt, again.Fence));
    }

    [Fact]
    public async Task Concurrent_claimers_in_separate_connections_complete_every_grain_exactly_once()
    {
        const int grains = 60, claimers = 4;
        var first = await StoreAsync(TimeProvider.System);
        await first.CreateJobAsync(Job("j"), VideoGrains("j", grains));
        var claimed = new ConcurrentBag<(string Grain, string Owner)>();
        await Task.WhenAll(Enumerable.Range(0, claimers).Select(i => Task.Run(async () =>
        {
            var s = await StoreAsync(TimeProvider.System);
            while (await s.ClaimAsync($"w{i}", Videos, TimeSpan.FromSeconds(30)) is { } lease)
            {
                claimed.Add((lease.GrainId, lease.Owner));
                await s.CompleteAsync(lease, $"{{\"by\":\"w{i}\"}}");
            }
        })));
        Assert.Equal(grains, claimed.Count);
        Assert.Equal(grains, claimed.Select(c => c.Grain).Distinct().Count());
        var rows = await first.ListGrainsAsync("j");
        Assert.All(rows, g => Assert.Equal((GrainStates.Done, 1L, 1), (g.State, g.Fence, g.Attempts)));
        Assert.All(rows, g => Assert.Equal($"{{\"by\":\"{claimed.Single(c => c.Grain == g.Id).Owner}\"}}", g.Result));
    }

    [Fact]
    public async Task Silo_membership_events_metrics_and_checkpoints_round_trip()
    {
        var s = await StoreAsync();
        await s.UpsertSiloAsync("s1", "worker", "pid 1", "{\"cpu\":1}");
        Clock.Advance(TimeSpan.FromSeconds(1));
        await s.UpsertSiloAsync("s1", "worker", "pid 1", "{\"cpu\":2}");
        await s.UpsertSiloAsync("s0", "coordinator", "http://127.0.0.1:1", "{}");
        await s.SetSiloStateAsync("s0", "stopped");
        var silos = await s.ListSilosAsync();
        Assert.Equal(["s0", "s1"], silos.Select(x => x.Id));
        Assert.Equal(("stopped", "active", "{\"cpu\":2}"), (silos[0].State, silos[1].State, silos[1].Info));
        Assert.Equal(1000, silos[1].HeartbeatAt - silos[1].StartedAt);

        await s.CreateJobAsync(Job("j"), []);
        await s.AddEventAsync("j", null, "s1", "claimed", "first");
        await s.AddEventAsync(null, null, "s1", "silo", "other");
        await s.AddEventAsync("j", "j/video/000", "s1", "done", "second");
        Assert.Equal(["second", "first"], (await s.ListEventsAsync("j")).Select(e => e.Message));
        Assert.Equal(3, (await s.ListEventsAsync(null)).Count);

        var t0 = s.Now();
        await s.AddMetricAsync("s1", "grains_done", 1);
        Clock.Advance(TimeSpan.FromSeconds(1));
        await s.AddMetricAsync("s1", "grains_done", 2);
        await s.AddMetricAsync("s1", "cpu", 0.5);
        Assert.Equal([1.0, 2.0], (await s.ListMetricsAsync("grains_done", t0)).Select(m => m.Value));
        Assert.Equal(2, (await s.ListMetricsAsync(null, t0 + 1)).Count);

        var file = new CheckpointFile("run1", 100, "runs/run1/step-100/model.pt", 12, new string('a', 64), 0);
        await s.AddCheckpointFileAsync(file);
        await s.AddCheckpointFileAsync(file);
        await s.AddCheckpointFileAsync(file with { Step = 50, BlobPath = "runs/run1/step-50/model.pt" });
        Assert.Equal([50L, 100L], (await s.ListCheckpointFilesAsync("run1")).Select(f => f.Step));
    }
}

public sealed class SqliteStoreTests : StoreContractTests, IDisposable
{
    private readonly TempDir _dir = Paths.NewTempDir("gid-sqlite");

    protected override IClusterStore OpenStore(TimeProvider time) => StoreUri.Open($"sqlite:{Path.Combine(_dir.Path, "cluster.db")}", time);

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresStoreTests(PostgresServer server) : StoreContractTests
{
    private readonly string _database = server.NewDatabase();

    protected override IClusterStore OpenStore(TimeProvider time) => StoreUri.Open(_database, time);
}
