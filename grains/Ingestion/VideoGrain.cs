using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Work;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;

namespace GidCluster.Grains.Ingestion;

/// <summary>A video grain's persisted state: a few hundred bytes (outputs are names, sizes and hashes).</summary>
[GenerateSerializer]
public sealed class VideoState
{
    [Id(0)] public VideoTask? Task { get; set; }
    [Id(1)] public string State { get; set; } = VideoStates.Pending;
    [Id(2)] public int Attempts { get; set; }
    [Id(3)] public string? Error { get; set; }
    [Id(4)] public List<OutputBlob> Outputs { get; set; } = [];
    [Id(5)] public OutputBlob? Sketch { get; set; }
    [Id(6)] public long? Rows { get; set; }
    [Id(7)] public string? Silo { get; set; }
    [Id(8)] public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// One video's pipeline run. <see cref="Start"/> records the attempt, arms a durable reminder and
/// hands the work to the silo's <see cref="WorkSlots"/>, then returns; the slot calls
/// <see cref="Complete"/>. An activation that finds its state running has lost its work (its
/// silo died, or the process was killed): it starts the next attempt. Failed attempts are retried
/// up to the job's limit, then the video is quarantined with its error. Outputs have deterministic
/// names and bytes, so a video run twice leaves one result.
/// </summary>
[GrainType(GrainNames.VideoType)]
public sealed class VideoGrain(
    [PersistentState("video", GrainNames.Storage)] IPersistentState<VideoState> state,
    WorkSlots slots, IBlobStore blobs, GrainSettings settings, ILocalSiloDetails silo, ILogger<VideoGrain> logger)
    : Grain, IVideoGrain, IRemindable
{
    /// <summary>The attempt this activation has in a work slot (0: none).</summary>
    private int _running;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists && state.State.State == VideoStates.Running)
            await NextAttemptAsync();
    }

    public async Task<VideoStatus> Start(VideoTask task)
    {
        if (state.State.Task == null)
        {
            state.State.Task = task;
            await NextAttemptAsync();
        }
        return Status();
    }

    public Task<VideoStatus?> GetStatus() => Task.FromResult(state.State.Task == null ? null : Status());

    public async Task Complete(int attempt, VideoOutcome outcome)
    {
        var s = state.State;
        if (s.State != VideoStates.Running || attempt != s.Attempts || _running != attempt)
        {
            logger.LogInformation("ignoring the report of attempt {Attempt} of {Video} (now attempt {Now}, {State})", attempt, this.GetPrimaryKeyString(), s.Attempts, s.State);
            return;
        }
        _running = 0;
        if (outcome.Error != null && s.Attempts < s.Task!.MaxAttempts)
        {
            logger.LogWarning("{Video} attempt {Attempt} failed, retrying: {Error}", this.GetPrimaryKeyString(), attempt, outcome.Error);
            s.Error = outcome.Error;
            await NextAttemptAsync();
            return;
        }
        if (outcome.Error != null)
        {
            s.State = VideoStates.Quarantined;
            s.Error = $"attempt {attempt} of {s.Task!.MaxAttempts}: {outcome.Error}";
        }
        else
        {
            (s.State, s.Error, s.Outputs, s.Sketch, s.Rows) = (VideoStates.Done, null, [.. outcome.Outputs], outcome.Sketch, outcome.Rows);
        }
        await FinishAsync();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (state.State.State is VideoStates.Done or VideoStates.Quarantined)
            await Redrive.Disarm(this, logger);
        else if (state.State.State == VideoStates.Running && _running == 0)
            await NextAttemptAsync();
    }

    private async Task NextAttemptAsync()
    {
        var s = state.State;
        var task = s.Task!;
        if (s.Attempts >= task.MaxAttempts)
        {
            s.State = VideoStates.Quarantined;
            s.Error = $"{s.Attempts} attempts ended without a result (the last one's silo stopped or died){(s.Error != null ? $"; earlier error: {s.Error}" : "")}";
            await FinishAsync();
            return;
        }
        s.Attempts++;
        s.State = VideoStates.Running;
        s.Silo = silo.SiloAddress.ToParsableString();
        s.UpdatedAt = DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
        await Redrive.Arm(this, settings);
        var attempt = _running = s.Attempts;
        // The work may run longer than idle activations are kept: keep this one while it does.
        DelayDeactivation(TimeSpan.FromDays(1));
        var self = this.AsReference<IVideoGrain>();
        logger.LogInformation("started {Video} (attempt {Attempt}) on {Silo}", this.GetPrimaryKeyString(), attempt, silo.Name);
        slots.Run($"{this.GetPrimaryKeyString()} attempt {attempt}", cancel => RunAsync(task, cancel),
            (outcome, error) => self.Complete(attempt, outcome ?? new VideoOutcome([], 0, null, Redrive.Describe(error!))));
    }

    /// <summary>The pipeline on one video, in a work slot: its outputs, then its statistics sketch, into the blob store.</summary>
    private async Task<VideoOutcome> RunAsync(VideoTask task, CancellationToken cancel)
    {
        if (!IngestionPipelines.TryCreate(task.Pipeline, out var pipeline))
            throw new InvalidOperationException($"this silo does not have the ingestion pipeline '{task.Pipeline}' (it has: {string.Join(", ", IngestionPipelines.Names)})");
        var result = await pipeline.Processor.ProcessAsync(new VideoWork(task.VideoUri, task.VideoId, task.OutputPrefix, task.Parameters), blobs, cancel);
        // Sketches go to the blob store: a dataprep sketch is ~550 KB, and grain state stays small.
        var sketchPath = SketchPath(task.OutputPrefix);
        var sketch = await blobs.PutAsync(sketchPath, new MemoryStream(result.Sketch, writable: false), cancel);
        return new VideoOutcome(result.Blobs, result.Rows, new OutputBlob(sketchPath, sketch.Size, sketch.Sha256!, 0), null);
    }

    /// <summary>The sketch's key under a video's output prefix (deterministic, like every output name).</summary>
    public static string SketchPath(string outputPrefix) => $"{outputPrefix}/statistics.sketch";

    private async Task FinishAsync()
    {
        var s = state.State;
        s.UpdatedAt = DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
        await Redrive.Disarm(this, logger);
        DelayDeactivation(TimeSpan.Zero);
        logger.LogInformation("{Video} {State} after {Attempts} attempt(s){Error}", this.GetPrimaryKeyString(), s.State, s.Attempts, s.Error != null ? ": " + s.Error : "");
        await GrainFactory.GetGrain<IIngestionJobGrain>(s.Task!.JobId).VideoFinished(Status());
    }

    private VideoStatus Status()
    {
        var s = state.State;
        return new VideoStatus(s.Task!.VideoId, s.Task.VideoUri, s.State, s.Attempts, s.Error, s.Rows, s.Silo, s.Outputs, s.Sketch, s.UpdatedAt);
    }
}
