using System.Diagnostics;
using System.Text.Json;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Store;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Dashboard;

public sealed record DashboardSilo(
    string Id, string Role, string State, bool Alive, double HeartbeatAgeSeconds, double? CpuPercent, double? WorkingSetMb,
    int Busy, int Slots, long GrainsDone);

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
/// watchers (SSE streams, polls, Prometheus scrapes) cost one store pass per interval, and nothing
/// runs when nobody asks.
/// </summary>
public sealed class DashboardSnapshots(IClusterStore store, IBlobStore blobs, SiloOptions options)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Training metric names are <c>PREFIX + runId</c>; the trainer records them with <see cref="IClusterStore.AddMetricAsync"/>.</summary>
    public const string LossMetricPrefix = "train.loss/";
    public const string StepRateMetricPrefix = "train.steps_per_s/";

    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    private const int RecentJobs = 20;
    private const int MaxWindowSeconds = 600;
    private const int Buckets = 60;
    private const int MaxSeriesPoints = 400;

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
            var snapshot = await BuildAsync(cancel);
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

    private async Task<DashboardSnapshot> BuildAsync(CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var now = store.Now();
        var silos = (await store.ListSilosAsync(cancel)).Select(s => Silo(s, now)).OrderBy(s => s.Role).ThenBy(s => s.Id).ToList();

        // Recent jobs, plus any still active however old, newest first.
        var jobs = (await store.ListJobsAsync(null, RecentJobs, cancel)).ToList();
        foreach (var active in await store.ListJobsInStatesAsync([JobStates.Running, JobStates.Merging], cancel))
        {
            if (jobs.All(j => j.Id != active.Id))
                jobs.Add(active);
        }
        jobs = jobs.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id, StringComparer.Ordinal).ToList();

        var totals = new SortedDictionary<string, int>(StringComparer.Ordinal)
        {
            [GrainStates.Pending] = 0,
            [GrainStates.Leased] = 0,
            [GrainStates.Done] = 0,
            [GrainStates.Quarantined] = 0,
        };
        // The window spans the work in view: from one minute (a fresh job) up to ten; always 60 buckets.
        var oldestActive = jobs.Where(j => j.Kind != JobKinds.TrainingRun && (j.State is JobStates.Running or JobStates.Merging || now - j.UpdatedAt < MaxWindowSeconds * 1000L))
            .Select(j => j.CreatedAt).DefaultIfEmpty(now).Min();
        var windowSeconds = (int)Math.Clamp(Math.Ceiling((now - oldestActive) / 60_000.0) * 60, 60, MaxWindowSeconds);
        var bucketSeconds = windowSeconds / Buckets;
        var buckets = new int[Buckets];
        var windowStart = now - windowSeconds * 1000L;
        var jobViews = new List<DashboardJob>();
        foreach (var job in jobs.Where(j => j.Kind != JobKinds.TrainingRun))
        {
            var grains = await store.ListGrainsAsync(job.Id, cancel);
            var byState = grains.GroupBy(g => g.State).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            foreach (var (state, count) in byState)
                totals[state] = totals.GetValueOrDefault(state) + count;
            foreach (var g in grains.Where(g => g.State == GrainStates.Done && g.UpdatedAt >= windowStart && g.UpdatedAt <= now))
                buckets[Math.Min(buckets.Length - 1, (int)((g.UpdatedAt - windowStart) / (bucketSeconds * 1000L)))]++;
            var videos = grains.Where(g => g.Kind == GrainKinds.Video).ToList();
            var done = videos.Where(g => g.State == GrainStates.Done).ToList();
            jobViews.Add(new DashboardJob(job.Id, job.Kind, job.State, job.CreatedAt, job.UpdatedAt, byState, videos.Count, done.Count,
                VideosPerMinute(done, job, now), job.Error,
                grains.Where(g => g.State == GrainStates.Quarantined).Select(g => new DashboardQuarantined(g.Id, g.Kind, g.Attempts, g.Error)).ToList(),
                DashboardSpectrum.TryRead(job) != null));
        }

        var runs = new List<DashboardRun>();
        foreach (var run in jobs.Where(j => j.Kind == JobKinds.TrainingRun))
            runs.Add(await RunAsync(run, now, cancel));

        var events = (await store.ListEventsAsync(null, 12, cancel))
            .Select(e => new DashboardEvent(e.At, e.JobId, e.GrainId, e.SiloId, e.Kind, e.Message)).ToList();
        var spectrum = jobViews.FirstOrDefault(j => j.HasSpectrum);
        return new DashboardSnapshot(now, Math.Round(clock.Elapsed.TotalMilliseconds, 2), store.Describe(), blobs.Describe(), silos, jobViews, totals,
            new DashboardThroughput(windowSeconds, bucketSeconds, now, buckets), runs, events,
            spectrum == null ? null : new DashboardSpectrumRef(spectrum.Id));
    }

    /// <summary>Videos finished per minute over the last five minutes (or since the job began, if younger).</summary>
    private static double VideosPerMinute(List<GrainRecord> done, JobRecord job, long now)
    {
        var window = Math.Clamp(now - job.CreatedAt, 1_000, 300_000);
        var recent = done.Count(g => g.UpdatedAt >= now - window);
        return Math.Round(recent / (window / 60_000.0), 2);
    }

    private DashboardSilo Silo(SiloRecord s, long now)
    {
        // The rule /api/cluster uses: alive while the heartbeat is younger than three intervals.
        var alive = s.State != "stopped" && now - s.HeartbeatAt < 3 * options.Heartbeat.TotalMilliseconds;
        double? cpu = null, memory = null;
        int busy = 0, slots = 0;
        long grainsDone = 0;
        try
        {
            using var info = JsonDocument.Parse(s.Info);
            var root = info.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                cpu = Number(root, "cpuPercent");
                memory = Number(root, "workingSetMb");
                busy = (int)(Number(root, "busy") ?? 0);
                slots = (int)(Number(root, "slots") ?? 0);
                grainsDone = (long)(Number(root, "grainsDone") ?? 0);
            }
        }
        catch (JsonException)
        {
            // An older or foreign silo wrote something else: show it without figures.
        }
        return new DashboardSilo(s.Id, s.Role, s.State, alive, Math.Round((now - s.HeartbeatAt) / 1000.0, 1), cpu, memory, busy, slots, grainsDone);
    }

    private static double? Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private async Task<DashboardRun> RunAsync(JobRecord run, long now, CancellationToken cancel)
    {
        var since = now - (long)TimeSpan.FromDays(7).TotalMilliseconds;
        var loss = Series(await store.ListMetricsAsync(LossMetricPrefix + run.Id, since, cancel));
        var rate = Series(await store.ListMetricsAsync(StepRateMetricPrefix + run.Id, since, cancel));
        var checkpoints = (await store.ListCheckpointFilesAsync(run.Id, cancel)).GroupBy(f => f.Step).OrderBy(g => g.Key)
            .Select(g => new DashboardCheckpoint(g.Key, g.Max(f => f.CreatedAt), g.Count(), g.Sum(f => f.Size))).ToList();
        return new DashboardRun(run.Id, run.State, run.CreatedAt, run.UpdatedAt, run.Error, loss, rate, checkpoints);
    }

    /// <summary>Null when there are no samples (the page then says so); thinned to every n-th sample for long runs.</summary>
    private static DashboardSeries? Series(IReadOnlyList<MetricRecord> samples)
    {
        if (samples.Count == 0)
            return null;
        var step = (samples.Count + MaxSeriesPoints - 1) / MaxSeriesPoints;
        var kept = samples.Where((_, i) => i % step == 0 || i == samples.Count - 1).ToList();
        return new DashboardSeries(kept.Select(m => m.At).ToList(), kept.Select(m => m.Value).ToList());
    }
}
