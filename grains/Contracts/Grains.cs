using Orleans;
using Orleans.Concurrency;

namespace GidCluster.Contracts;

/// <summary>One object a grain wrote: its key, size, SHA-256 and how many rows (samples) it holds.</summary>
[GenerateSerializer, Immutable]
public sealed record OutputBlob(string Path, long Size, string Sha256, long Rows);

/// <summary>Average power per frequency bin of the x and y displacements (paper Fig. 2 left), with the bins' frequencies.</summary>
[GenerateSerializer, Immutable]
public sealed record JobSpectrum(IReadOnlyList<double> PowerX, IReadOnlyList<double> PowerY, IReadOnlyList<double> FrequenciesHz);

/// <summary>What the merge step produced: the manifest's key and hash, the total row count, and (when the pipeline measures one) the motion spectrum.</summary>
[GenerateSerializer, Immutable]
public sealed record MergeResult(string ManifestPath, string ManifestSha256, long Rows)
{
    [Id(3)]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public JobSpectrum? Spectrum { get; init; }
}

/// <summary>States of a job.</summary>
public static class JobStates
{
    public const string Running = "running";
    public const string Merging = "merging";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>States of a video grain: pending → running → done, or quarantined with its error after its last attempt.</summary>
public static class VideoStates
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Done = "done";
    public const string Quarantined = "quarantined";
}

/// <summary>One video of a job, as the job grain hands it to its video grain.</summary>
/// <param name="OutputPrefix">Blob prefix of the video's outputs (<c>datasets/NAME/videos/ID</c>, or <c>animations/NAME/videos/ID</c>); names under it are deterministic.</param>
[GenerateSerializer, Immutable]
public sealed record VideoTask(string JobId, string VideoId, string VideoUri, string OutputPrefix, string Pipeline, int MaxAttempts)
{
    /// <summary>The job's pipeline parameters, validated at submission.</summary>
    [Id(6)]
    public Dictionary<string, string> Parameters { get; init; } = [];
}

/// <summary>A video grain's state as others see it: small (outputs are names, sizes and hashes; bytes live in the blob store).</summary>
[GenerateSerializer, Immutable]
public sealed record VideoStatus(
    string VideoId, string Uri, string State, int Attempts, string? Error, long? Rows, string? Silo,
    IReadOnlyList<OutputBlob> Outputs, OutputBlob? Sketch, DateTimeOffset UpdatedAt);

/// <summary>How one attempt at a video ended (reported by the work slot that ran it).</summary>
[GenerateSerializer, Immutable]
public sealed record VideoOutcome(IReadOnlyList<OutputBlob> Outputs, long Rows, OutputBlob? Sketch, string? Error);

/// <summary>What the dataset grain merges: every finished video of a job.</summary>
[GenerateSerializer, Immutable]
public sealed record MergeRequest(string JobId, string DatasetPrefix, string Pipeline, int MaxAttempts, IReadOnlyList<VideoStatus> Videos);

[GenerateSerializer, Immutable]
public sealed record DatasetView(string Name, string State, string? JobId, int Attempts, MergeResult? Result, string? Error, DateTimeOffset UpdatedAt);

/// <summary>
/// An ingestion job (key: the job id). Holds the spec and the job's phase; dispatches one video grain
/// per video with a bound on work in flight, and starts the dataset merge when every video is done.
/// </summary>
public interface IIngestionJobGrain : IGrainWithStringKey
{
    /// <summary>Creates the job; <see cref="ArgumentException"/> names a bad field; a second submit with the same id is refused.</summary>
    Task<JobView> Submit(SubmitIngestionRequest request);

    /// <summary>The job, or null when no job has this id. Per-video rows only when <paramref name="withVideos"/>.</summary>
    Task<JobView?> GetView(bool withVideos);

    Task<JobSpectrum?> GetSpectrum();

    Task<IReadOnlyList<EventView>> GetEvents(int limit);

    /// <summary>A video grain reached done or quarantined (one-way: the job never waits on its videos' callbacks).</summary>
    [OneWay]
    Task VideoFinished(VideoStatus status);

    /// <summary>The dataset grain finished the merge, with its result or its error.</summary>
    [OneWay]
    Task MergeFinished(MergeResult? result, string? error);
}

/// <summary>One video's pipeline run (key: <c>JOB/VIDEO</c>): attempts, outputs with size and sha256, error, quarantine.</summary>
public interface IVideoGrain : IGrainWithStringKey
{
    /// <summary>Starts the video unless it already started; returns at once (the work runs in a work slot).</summary>
    Task<VideoStatus> Start(VideoTask task);

    /// <summary>The video's status; null if it was never started.</summary>
    Task<VideoStatus?> GetStatus();

    /// <summary>Called by the work slot when attempt <paramref name="attempt"/> ended. Reports of stale attempts are ignored.</summary>
    Task Complete(int attempt, VideoOutcome outcome);
}

/// <summary>A dataset (key: its name): the merge of its videos' sketches and spectra into manifest.json.</summary>
public interface IDatasetGrain : IGrainWithStringKey
{
    /// <summary>Starts the merge for a job unless it is already under way or done for that job; returns at once.</summary>
    Task Merge(MergeRequest request);

    Task<DatasetView?> GetView();

    /// <summary>Called by the work slot when merge attempt <paramref name="attempt"/> ended.</summary>
    Task Complete(int attempt, MergeResult? result, string? error);
}

/// <summary>A list of ids, newest first (key: what it lists: <see cref="Catalogs"/>).</summary>
public interface ICatalogGrain : IGrainWithStringKey
{
    Task Add(string id);

    Task<IReadOnlyList<string>> List(int limit);
}

public static class Catalogs
{
    public const string IngestionJobs = "ingestion-jobs";
    public const string Datasets = "datasets";
    public const string TrainingRuns = "training-runs";
}

/// <summary>A time series: Unix-ms times and values, oldest first.</summary>
[GenerateSerializer, Immutable]
public sealed record MetricSeries(IReadOnlyList<long> At, IReadOnlyList<double> Values);

/// <summary>
/// A training run (key: the run id). The training issue fills in the launcher; this much is what the
/// client and the dashboard read: the run's state, its checkpoints in the blob store, and its loss and
/// step-rate curves.
/// </summary>
public interface ITrainingRunGrain : IGrainWithStringKey
{
    /// <summary>Registers the run (idempotent).</summary>
    Task Create();

    Task<RunView?> GetView();

    /// <summary>Records one checkpoint's files (already in the blob store, with their sha256).</summary>
    Task RecordCheckpoint(long step, IReadOnlyList<CheckpointFileView> files);

    Task<IReadOnlyList<CheckpointView>> ListCheckpoints();

    /// <summary>Records a training step's loss and step rate (kept thinned to a bounded series).</summary>
    Task RecordMetrics(long step, double loss, double stepsPerSecond);

    Task<(MetricSeries? Loss, MetricSeries? StepRate)> GetCurves();

    /// <summary>Ends the run: <c>succeeded</c> or <c>failed</c> with an error.</summary>
    Task Finish(string state, string? error);

    /// <summary>
    /// Creates the run and starts its rank processes on this silo (returns at once); on a rank failure the grain stops
    /// the other ranks and restarts all from the last checkpoint, at most <see cref="TrainLaunchRequest.MaxRestarts"/> times.
    /// </summary>
    Task Launch(TrainLaunchRequest request);

    Task<RunDetails?> GetDetails();

    /// <summary>Records a step's samples/s besides loss and step rate (the rank supervisor calls it).</summary>
    Task RecordStep(long step, double loss, double samplesPerSecond, double stepsPerSecond);

    /// <summary>Counts a restart of all ranks after a failure (the rank supervisor calls it).</summary>
    Task RecordRestart(string reason);

    /// <summary>
    /// A rank of a run launched with placement <c>join</c> registers (again: <see cref="RankJoinRequest.Joiner"/> tells a
    /// retry from a restarted rank, which ends the current attempt). Ranks wait until rank 0 has given its address.
    /// </summary>
    Task<RankAssignment> JoinRank(RankJoinRequest request);

    /// <summary>A joined rank's sign of life; answers <see cref="RankOrders"/>: go on, restart (the attempt ended), or stop.</summary>
    Task<string> RankHeartbeat(int rank, string joiner, int attempt);

    /// <summary>A joined rank's process ended: all done once every rank succeeded; a failure restarts the attempt (bounded).</summary>
    Task RankExited(int rank, string joiner, int attempt, int exitCode, string? error);
}
