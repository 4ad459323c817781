namespace GidCluster.Grains.Store;

/// <summary>Kinds of grains (durable work units) the cluster knows.</summary>
public static class GrainKinds
{
    public const string Video = "ingest.video";
    public const string StatisticsMerge = "ingest.merge";
    public const string Shard = "ingest.shard";
    public const string TrainingRank = "train.rank";
}

/// <summary>Kinds of jobs: an ingestion over a list of videos, or a training run.</summary>
public static class JobKinds
{
    public const string Ingestion = "ingestion";
    public const string TrainingRun = "training";
}

/// <summary>States of a job.</summary>
public static class JobStates
{
    public const string Running = "running";
    public const string Merging = "merging";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>States of a grain: pending → leased → done, or back to pending on failure/expiry, or quarantined after its last attempt.</summary>
public static class GrainStates
{
    public const string Pending = "pending";
    public const string Leased = "leased";
    public const string Done = "done";
    public const string Quarantined = "quarantined";
}

public sealed record JobRecord(string Id, string Kind, string State, string Spec, string? Result, string? Error, long CreatedAt, long UpdatedAt);

/// <summary>A grain to create. <paramref name="Id"/> is deterministic (e.g. <c>JOB/video/VIDEO</c>), so creating it twice is harmless.</summary>
public sealed record NewGrain(string Id, string JobId, string Kind, string Input, int MaxAttempts = 3);

public sealed record GrainRecord(
    string Id,
    string JobId,
    string Kind,
    string State,
    string Input,
    string? Result,
    int Attempts,
    int MaxAttempts,
    string? LeaseOwner,
    long? LeaseExpiresAt,
    long Fence,
    string? Error,
    long CreatedAt,
    long UpdatedAt);

/// <summary>
/// A claim on one grain. <see cref="Fence"/> is the grain's token at claim time; every later
/// write names it, and the store refuses the write once anyone else has claimed the grain since.
/// </summary>
public sealed record Lease(string GrainId, string JobId, string Kind, string Input, string Owner, long Fence, int Attempt, long ExpiresAt);

public sealed record SiloRecord(string Id, string Role, string Address, string State, long StartedAt, long HeartbeatAt, string Info);

public sealed record EventRecord(long Id, long At, string? JobId, string? GrainId, string? SiloId, string Kind, string Message);

public sealed record MetricRecord(long At, string SiloId, string Name, double Value);

/// <summary>One file of a training checkpoint in the blob store.</summary>
public sealed record CheckpointFile(string RunId, long Step, string BlobPath, long Size, string Sha256, long CreatedAt);

/// <summary>A write named a fence that is no longer current: the lease was lost (expired and re-claimed, or released).</summary>
public sealed class LeaseLostException(string grainId, long fence)
    : InvalidOperationException($"lease on grain '{grainId}' with fence {fence} is no longer held")
{
    public string GrainId { get; } = grainId;
    public long Fence { get; } = fence;
}

/// <summary>
/// The cluster's durable state: jobs, grains and their fenced leases, silo membership, events,
/// metrics and checkpoints. SQLite on one machine, PostgreSQL at scale; both pass one contract
/// test suite. Times are Unix milliseconds from the store's <see cref="TimeProvider"/>.
/// </summary>
public interface IClusterStore : IAsyncDisposable
{
    /// <summary>Where the store is, without secrets (for logs and the dashboard).</summary>
    string Describe();

    /// <summary>Applies every migration not yet applied; safe to call from several silos at once.</summary>
    Task MigrateAsync(CancellationToken cancel = default);

    /// <summary>The highest applied migration version.</summary>
    Task<int> SchemaVersionAsync(CancellationToken cancel = default);

    // --- jobs ---

    /// <summary>Creates a job with its first grains in one transaction; false if a job with that id exists.</summary>
    Task<bool> CreateJobAsync(JobRecord job, IReadOnlyList<NewGrain> grains, CancellationToken cancel = default);

    Task<JobRecord?> GetJobAsync(string id, CancellationToken cancel = default);

    /// <summary>Jobs, newest first; <paramref name="kind"/> null for all kinds.</summary>
    Task<IReadOnlyList<JobRecord>> ListJobsAsync(string? kind, int limit = 100, CancellationToken cancel = default);

    /// <summary>Jobs in one of <paramref name="states"/>.</summary>
    Task<IReadOnlyList<JobRecord>> ListJobsInStatesAsync(IReadOnlyCollection<string> states, CancellationToken cancel = default);

    /// <summary>Moves a job from <paramref name="expectedState"/> to <paramref name="state"/>; false if it was not in the expected state.</summary>
    Task<bool> TransitionJobAsync(string id, string expectedState, string state, string? result, string? error, CancellationToken cancel = default);

    // --- grains and leases ---

    /// <summary>Adds a grain unless one with its id exists; true if it was added.</summary>
    Task<bool> AddGrainAsync(NewGrain grain, CancellationToken cancel = default);

    Task<GrainRecord?> GetGrainAsync(string id, CancellationToken cancel = default);

    Task<IReadOnlyList<GrainRecord>> ListGrainsAsync(string jobId, CancellationToken cancel = default);

    /// <summary>
    /// Claims one claimable grain of the given kinds (pending, or leased with an expired lease, and
    /// attempts left) for <paramref name="owner"/>: raises its fence and its attempt count. Null if none.
    /// </summary>
    Task<Lease?> ClaimAsync(string owner, IReadOnlyCollection<string> kinds, TimeSpan leaseFor, CancellationToken cancel = default);

    /// <summary>Extends a held lease; <see cref="LeaseLostException"/> if it is no longer held.</summary>
    Task<Lease> HeartbeatAsync(Lease lease, TimeSpan leaseFor, CancellationToken cancel = default);

    /// <summary>Checks the lease is still held (before a side effect); <see cref="LeaseLostException"/> if not.</summary>
    Task CheckAsync(Lease lease, CancellationToken cancel = default);

    /// <summary>Commits the grain's result once: done, with <paramref name="result"/>; <see cref="LeaseLostException"/> if the lease is no longer held.</summary>
    Task CompleteAsync(Lease lease, string result, CancellationToken cancel = default);

    /// <summary>Records a failed attempt: back to pending, or quarantined with the error after the last attempt. Returns the new state.</summary>
    Task<string> FailAsync(Lease lease, string error, CancellationToken cancel = default);

    /// <summary>Gives the grain back without using up an attempt (graceful drain).</summary>
    Task ReleaseAsync(Lease lease, CancellationToken cancel = default);

    /// <summary>Quarantines grains whose lease expired on their last attempt; returns how many.</summary>
    Task<int> QuarantineExhaustedAsync(CancellationToken cancel = default);

    // --- silo membership ---

    /// <summary>Registers a silo or refreshes its row (state <c>active</c>).</summary>
    Task UpsertSiloAsync(string id, string role, string address, string info, CancellationToken cancel = default);

    /// <summary>Sets a silo's state (<c>active</c>, <c>draining</c>, <c>stopped</c>) and heartbeat time.</summary>
    Task SetSiloStateAsync(string id, string state, CancellationToken cancel = default);

    Task<IReadOnlyList<SiloRecord>> ListSilosAsync(CancellationToken cancel = default);

    // --- events, metrics, checkpoints ---

    Task AddEventAsync(string? jobId, string? grainId, string? siloId, string kind, string message, CancellationToken cancel = default);

    /// <summary>Events newest first, for one job or all.</summary>
    Task<IReadOnlyList<EventRecord>> ListEventsAsync(string? jobId, int limit = 100, CancellationToken cancel = default);

    Task AddMetricAsync(string siloId, string name, double value, CancellationToken cancel = default);

    /// <summary>Metric samples at or after <paramref name="since"/>, oldest first.</summary>
    Task<IReadOnlyList<MetricRecord>> ListMetricsAsync(string? name, long since, CancellationToken cancel = default);

    /// <summary>Records one checkpoint file (idempotent on run, step and path).</summary>
    Task AddCheckpointFileAsync(CheckpointFile file, CancellationToken cancel = default);

    Task<IReadOnlyList<CheckpointFile>> ListCheckpointFilesAsync(string runId, CancellationToken cancel = default);

    /// <summary>Now, in Unix milliseconds, by the store's clock.</summary>
    long Now();
}
