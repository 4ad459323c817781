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
/// <c>gid train launch</c>: a stage trained by <paramref name="Ranks"/> rank processes. <paramref name="Dataset"/> is a
/// dataset name of the cluster or a manifest folder on the ranks' machines; <paramref name="From"/> the run whose
/// checkpoints this stage builds on (ldm1: a vae run; ldm2: an ldm1 run); <paramref name="Placement"/> who starts the
/// ranks (<see cref="TrainPlacements"/>).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrainLaunchRequest(string Stage, string Dataset, int Ranks, string Config, string? From, IReadOnlyList<string> Overrides,
    int BatchSize, long Steps, long CheckpointEvery, ulong Seed, IReadOnlyList<int>? FrameSize, int MaxRestarts, string Placement = TrainPlacements.Silo);

/// <summary>Who starts a run's ranks.</summary>
public static class TrainPlacements
{
    /// <summary>The silo holding the run grain starts them as local processes (rendezvous on loopback).</summary>
    public const string Silo = "silo";

    /// <summary>They are started elsewhere (the pods of the Kubernetes training Job) and join with <c>gid train join</c>.</summary>
    public const string Join = "join";

    public static readonly string[] All = [Silo, Join];
}

/// <summary>
/// A rank asking to join a run (<c>gid train join</c>): <paramref name="Joiner"/> names this process for as long as it lives
/// (a rank that joins again under another name has been restarted); rank 0 gives the rendezvous address it serves.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RankJoinRequest(int Rank, int WorldSize, string Joiner, string? Master);

/// <summary>
/// The run grain's answer to a joining rank: <see cref="RankAssignment.Wait"/> (not every rank needed yet; ask again),
/// <see cref="RankAssignment.Go"/> (train attempt <paramref name="Attempt"/> with rank 0 at <paramref name="Master"/>, resuming
/// from the checkpoint at <paramref name="ResumeStep"/> if any) or <see cref="RankAssignment.Ended"/> (the run is over).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RankAssignment(string Status, string Message, int Attempt, string? Master, long? ResumeStep, TrainLaunchRequest? Launch)
{
    public const string Wait = "wait", Go = "go", Ended = "ended";
}

/// <summary>What a joined rank hears back on each heartbeat.</summary>
public static class RankOrders
{
    public const string Continue = "continue", Restart = "restart", Ended = "ended";
}

/// <summary>What <c>gid runs show</c> prints beyond <see cref="RunView"/>: the launch, restarts and the latest step's figures.</summary>
[GenerateSerializer, Immutable]
public sealed record RunDetails(RunView Run, TrainLaunchRequest? Launch, int Restarts, long? Step, double? Loss, double? SamplesPerSecond, double? StepsPerSecond)
{
    /// <summary>For ranks that join: the current attempt (from 1).</summary>
    [Id(7)]
    public int? Attempt { get; init; }

    /// <summary>For ranks that join: how many have joined the current attempt.</summary>
    [Id(8)]
    public int? Joined { get; init; }
}
