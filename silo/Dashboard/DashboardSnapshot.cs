using System.Diagnostics;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Silo.Cluster;
using GidCluster.Silo.Hosting;
using GidCluster.Silo.Runs;
using Orleans.Runtime;

namespace GidCluster.Silo.Dashboard;

public sealed record DashboardSilo(
    string Id, string Role, string State, bool Alive, double UpSeconds, double? CpuPercent, double? WorkingSetMb, int Activations, int VideoGrains);

public sealed record DashboardQuarantined(string Grain, string Kind, int Attempts, string? Error);

public sealed record DashboardJob(
    string Id, string Kind, string State, long CreatedAt, long UpdatedAt, IReadOnlyDictionary<string, int> Grains,
    int Videos, int VideosDone, double VideosPerMinute, string? Error, IReadOnlyList<DashboardQuarantined> Quarantined, bool HasSpectrum);

/// <summary>A time series: Unix-ms times and values, oldest first.</summary>
public sealed record DashboardSeries(IReadOnlyList<long> At, IReadOnlyList<double> Values);

public sealed record DashboardCheckpoint(long Step, long CreatedAt, int Files, long Bytes);

public sealed record DashboardRun(
    string Id, string State, long CreatedAt, long UpdatedAt, string? Error, DashboardSeries? Loss, DashboardSeries? StepRate,
    IReadOnlyList<DashboardCheckpoint> Checkpoints);

/// <summary>Done grains per bucket over the last <see cref="WindowSeconds"/>.</summary>
public sealed record DashboardThroughput(int WindowSeconds, int BucketSeconds, long EndsAt, IReadOnlyList<int> DonePerBucket);

public sealed record DashboardEvent(long At, string? Job, string? Grain, string? Silo, string Kind, string Message);

/// <summary>Everything the dashboard page and the Prometheus export show, from one pass over the store.</summary>
public sealed record DashboardSnapshot(
    long GeneratedAt, double CollectMs, string Store, string Blobs,
    IReadOnlyList<DashboardSilo> Silos, IReadOnlyList<DashboardJob> Jobs, IReadOnlyDictionary<string, int> GrainTotals,
    DashboardThroughput Throughput, IReadOnlyList<DashboardRun> Runs, IReadOnlyList<DashboardEvent> Events,
    DashboardSpectrumRef? Spectrum);

/// <summary>Which job's spectrum the page should plot (the newest ingestion job that has one).</summary>
public sealed record DashboardSpectrumRef(string Job);

/// <summary>
/// Builds snapshots on demand and keeps the last one for <see cref="MaxAge"/>, so any number of
/// watchers (SSE streams, polls, Prometheus scrapes) cost one pass over the grains per interval,
/// and nothing runs when nobody asks.
/// </summary>
public sealed class DashboardSnapshots(IGrainFactory grains, IClusterManifestProvider manifests, IBlobStore blobs, SiloOptions options)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    private const int RecentJobs = 20;
    private const int MaxWindowSeconds = 600;
    private const int Buckets = 60;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private (DashboardSnapshot Snapshot, string Json, long At)? _last;

    /// <summary>The current snapshot and its JSON; rebuilt at most once per <see cref="MaxAge"/> whoever asks.</summary>
    public async Task<(DashboardSnapshot Snapshot, string Json)> GetAsync(CancellationToken cancel)
    {
        if (Fresh(out var hit))
            return hit;
        await _gate.WaitAsync(cancel);
        try
        {
            // Another caller may have rebuilt it while this one waited.
            if (Fresh(out hit))
                return hit;
            var snapshot = await BuildAsync();
            var json = JsonSerializer.Serialize(snapshot, Json);
            _last = (snapshot, json, Stopwatch.GetTimestamp());
            return (snapshot, json);
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool Fresh(out (DashboardSnapshot, string) hit)
    {
        var last = _last;
        hit = last is { } l ? (l.Snapshot, l.Json) : default;
        return last is { } x && Stopwatch.GetElapsedTime(x.At) < MaxAge;
    }

    private async Task<DashboardSnapshot> BuildAsync()
    {
        var clock = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var silos = (await ClusterSilos.ListAsync(grains, manifests))
            .Select(s => new DashboardSilo(s.View.Id, s.View.Role, s.View.State, s.View.Alive, Math.Round((now - s.View.StartedAt.ToUnixTimeMilliseconds()) / 1000.0, 1),
                s.View.CpuPercent, s.View.MemoryMb, s.View.Activations, s.VideoGrains))
            .OrderBy(s => s.Role).ThenBy(s => s.Id).ToList();

        var jobs = new List<JobView>();
        foreach (var id in await grains.GetGrain<ICatalogGrain>(Catalogs.IngestionJobs).List(RecentJobs))
        {
            if (await grains.GetGrain<IIngestionJobGrain>(id).GetView(withVideos: false) is { } view)
                jobs.Add(view);
        }
        jobs = jobs.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id, StringComparer.Ordinal).ToList();

        var totals = new SortedDictionary<string, int>(StringComparer.Ordinal)
        {
            [VideoStates.Pending] = 0,
            [VideoStates.Running] = 0,
            [VideoStates.Done] = 0,
            [VideoStates.Quarantined] = 0,
        };
        // The window spans the work in view: from one minute (a fresh job) up to ten; always 60 buckets.
        var oldestActive = jobs.Where(j => j.State is JobStates.Running or JobStates.Merging || now - j.UpdatedAt.ToUnixTimeMilliseconds() < MaxWindowSeconds * 1000L)
            .Select(j => j.CreatedAt.ToUnixTimeMilliseconds()).DefaultIfEmpty(now).Min();
        var windowSeconds = (int)Math.Clamp(Math.Ceiling((now - oldestActive) / 60_000.0) * 60, 60, MaxWindowSeconds);
        var bucketSeconds = windowSeconds / Buckets;
        var buckets = new int[Buckets];
        var windowStart = now - windowSeconds * 1000L;
        var jobViews = new List<DashboardJob>();
        foreach (var job in jobs)
        {
            var byState = new Dictionary<string, int>(StringComparer.Ordinal)
            {
                [VideoStates.Pending] = job.Pending,
                [VideoStates.Running] = job.Running,
                [VideoStates.Done] = job.Done,
                [VideoStates.Quarantined] = job.Quarantined,
            };
            foreach (var (state, count) in byState)
                totals[state] += count;
            foreach (var at in job.RecentDoneAt.Where(t => t >= windowStart && t <= now))
                buckets[Math.Min(buckets.Length - 1, (int)((at - windowStart) / (bucketSeconds * 1000L)))]++;
            var window = Math.Clamp(now - job.CreatedAt.ToUnixTimeMilliseconds(), 1_000, 300_000);
            var perMinute = Math.Round(job.RecentDoneAt.Count(t => t >= now - window) / (window / 60_000.0), 2);
            jobViews.Add(new DashboardJob(job.Id, job.Kind, job.State, job.CreatedAt.ToUnixTimeMilliseconds(), job.UpdatedAt.ToUnixTimeMilliseconds(), byState,
                job.Total, job.Done, perMinute, job.Error,
                job.QuarantinedVideos.Select(v => new DashboardQuarantined(IngestionJobs.VideoGrainKey(job.Id, v.Id), "video", v.Attempts, v.Error)).ToList(),
                job.State == JobStates.Succeeded && DashboardSpectrum.From(job.Id, await grains.GetGrain<IIngestionJobGrain>(job.Id).GetSpectrum()) != null));
        }

        var runs = new List<DashboardRun>();
        foreach (var run in await RunEndpoints.ListAsync(grains, RecentJobs))
            runs.Add(await RunAsync(run));

        var events = (await ClusterEndpoints.EventsAsync(grains, null, 12))
            .Select(e => new DashboardEvent(e.At.ToUnixTimeMilliseconds(), e.Job, e.Grain, e.Silo, e.Kind, e.Message)).ToList();
        var spectrum = jobViews.FirstOrDefault(j => j.HasSpectrum);
        return new DashboardSnapshot(now, Math.Round(clock.Elapsed.TotalMilliseconds, 2), options.Store.Split('/')[^1], blobs.Describe(), silos, jobViews, totals,
            new DashboardThroughput(windowSeconds, bucketSeconds, now, buckets), runs, events,
            spectrum == null ? null : new DashboardSpectrumRef(spectrum.Id));
    }

    private async Task<DashboardRun> RunAsync(RunView run)
    {
        var grain = grains.GetGrain<ITrainingRunGrain>(run.Id);
        var (loss, rate) = await grain.GetCurves();
        var checkpoints = (await grain.ListCheckpoints())
            .Select(c => new DashboardCheckpoint(c.Step, c.CreatedAt.ToUnixTimeMilliseconds(), c.Files.Count, c.Files.Sum(f => f.Size))).ToList();
        return new DashboardRun(run.Id, run.State, run.CreatedAt.ToUnixTimeMilliseconds(), run.UpdatedAt.ToUnixTimeMilliseconds(), run.Error,
            loss == null ? null : new DashboardSeries(loss.At, loss.Values), rate == null ? null : new DashboardSeries(rate.At, rate.Values), checkpoints);
    }
}
