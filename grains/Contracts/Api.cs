using Orleans;

namespace GidCluster.Contracts;

/// <summary>Every 4xx/5xx body: what is wrong and, for bad requests, which field.</summary>
public sealed record ApiError(string Error, string? Field = null);

/// <summary><c>POST /api/ingestion/jobs</c>.</summary>
/// <param name="Videos">Absolute paths or file:/// URIs under the silo's allowed roots.</param>
/// <param name="Dataset">Name of the output dataset (blob prefix <c>datasets/NAME</c>); default: the job id.</param>
/// <param name="Pipeline">Which ingestion pipeline runs per video (see <c>GET /api/cluster</c>); default: the silo's.</param>
/// <param name="MaxAttempts">Attempts per grain before it is quarantined (1–20, default 3).</param>
[GenerateSerializer, Immutable]
public sealed record SubmitIngestionRequest(IReadOnlyList<string> Videos, string? Dataset = null, string? Pipeline = null, int? MaxAttempts = null)
{
    /// <summary>Settings of the pipeline (the <c>animate</c> pipeline's model and options); pipelines that take none refuse any.</summary>
    [Id(4)]
    public Dictionary<string, string>? Parameters { get; init; }
}

[GenerateSerializer, Immutable]
public sealed record VideoView(string Id, string Uri, string State, int Attempts, string? Error, long? Rows, string? Silo = null);

[GenerateSerializer, Immutable]
public sealed record JobView(
    string Id,
    string Kind,
    string State,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? Pipeline,
    string? Dataset,
    int Total,
    int Done,
    int Running,
    int Pending,
    int Quarantined,
    string? Manifest,
    string? ManifestSha256,
    long? Rows,
    string? Error,
    IReadOnlyList<VideoView> Videos)
{
    /// <summary>The videos that were quarantined, with their errors (also when <see cref="Videos"/> is not filled in).</summary>
    [Id(16)]
    public IReadOnlyList<VideoView> QuarantinedVideos { get; init; } = [];

    /// <summary>When videos finished over the last ten minutes (Unix ms), for throughput.</summary>
    [Id(17)]
    public IReadOnlyList<long> RecentDoneAt { get; init; } = [];
}

[GenerateSerializer, Immutable]
public sealed record RunView(string Id, string State, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, int Checkpoints, long? LatestStep, string? Error);

[GenerateSerializer, Immutable]
public sealed record CheckpointFileView(string Path, long Size, string Sha256);

[GenerateSerializer, Immutable]
public sealed record CheckpointView(string Run, long Step, DateTimeOffset CreatedAt, IReadOnlyList<CheckpointFileView> Files);

public sealed record SiloView(string Id, string Role, string Address, string State, DateTimeOffset StartedAt, bool Alive, double? CpuPercent, double? MemoryMb, int Activations);

public sealed record ClusterView(string Storage, string Blobs, IReadOnlyList<string> Pipelines, IReadOnlyList<SiloView> Silos);

[GenerateSerializer, Immutable]
public sealed record EventView(long Id, DateTimeOffset At, string? Job, string? Grain, string? Silo, string Kind, string Message);


/// <summary>
/// <c>gid train launch</c>: a stage trained by <paramref name="Ranks"/> local rank processes. <paramref name="Dataset"/> is a
/// dataset name of the cluster or a manifest folder on the silo's machine; <paramref name="From"/> the run whose
/// checkpoints this stage builds on (ldm1: a vae run; ldm2: an ldm1 run).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrainLaunchRequest(string Stage, string Dataset, int Ranks, string Config, string? From, IReadOnlyList<string> Overrides,
    int BatchSize, long Steps, long CheckpointEvery, ulong Seed, IReadOnlyList<int>? FrameSize, int MaxRestarts);

/// <summary>What <c>gid runs show</c> prints beyond <see cref="RunView"/>: the launch, restarts and the latest step's figures.</summary>
[GenerateSerializer, Immutable]
public sealed record RunDetails(RunView Run, TrainLaunchRequest? Launch, int Restarts, long? Step, double? Loss, double? SamplesPerSecond, double? StepsPerSecond);
