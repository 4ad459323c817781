using System.Security.Cryptography;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Work;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;

namespace GidCluster.Grains.Datasets;

public static class DatasetStates
{
    public const string Merging = "merging";
    public const string Done = "done";
    public const string Failed = "failed";
}

[GenerateSerializer]
public sealed class DatasetState
{
    [Id(0)] public MergeRequest? Request { get; set; }
    [Id(1)] public string State { get; set; } = DatasetStates.Merging;
    [Id(2)] public int Attempts { get; set; }
    [Id(3)] public MergeResult? Result { get; set; }
    [Id(4)] public string? Error { get; set; }
    [Id(5)] public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// A dataset: the merge of its videos' statistics sketches and spectra into <c>manifest.json</c>
/// (through the job's pipeline), run in a work slot like a video, retried like one, re-driven by a
/// reminder if its silo dies. Datasets are listed in the <see cref="Catalogs.Datasets"/> catalog.
/// </summary>
[GrainType(GrainNames.DatasetType)]
public sealed class DatasetGrain(
    [PersistentState("dataset", GrainNames.Storage)] IPersistentState<DatasetState> state,
    WorkSlots slots, IBlobStore blobs, GrainSettings settings, ILogger<DatasetGrain> logger)
    : Grain, IDatasetGrain, IRemindable
{
    private int _running;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists && state.State.State == DatasetStates.Merging)
            await NextAttemptAsync();
    }

    public async Task Merge(MergeRequest request)
    {
        var s = state.State;
        if (s.Request?.JobId == request.JobId)
        {
            if (s.State != DatasetStates.Merging)
                await ReportAsync();
            return;
        }
        state.State = new DatasetState { Request = request };
        await GrainFactory.GetGrain<ICatalogGrain>(Catalogs.Datasets).Add(this.GetPrimaryKeyString());
        await NextAttemptAsync();
    }

    public Task<DatasetView?> GetView()
    {
        var s = state.State;
        return Task.FromResult(s.Request == null ? null
            : new DatasetView(this.GetPrimaryKeyString(), s.State, s.Request.JobId, s.Attempts, s.Result, s.Error, s.UpdatedAt));
    }

    public async Task Complete(int attempt, MergeResult? result, string? error)
    {
        var s = state.State;
        if (s.State != DatasetStates.Merging || attempt != s.Attempts || _running != attempt)
            return;
        _running = 0;
        if (error != null && s.Attempts < s.Request!.MaxAttempts)
        {
            logger.LogWarning("dataset {Dataset} merge attempt {Attempt} failed, retrying: {Error}", this.GetPrimaryKeyString(), attempt, error);
            s.Error = error;
            await NextAttemptAsync();
            return;
        }
        (s.State, s.Result, s.Error) = error == null ? (DatasetStates.Done, result, (string?)null) : (DatasetStates.Failed, null, error);
        await FinishAsync();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (state.State.State != DatasetStates.Merging)
            await Redrive.Disarm(this, logger);
        else if (_running == 0)
            await NextAttemptAsync();
    }

    private async Task NextAttemptAsync()
    {
        var s = state.State;
        var request = s.Request!;
        if (s.Attempts >= request.MaxAttempts)
        {
            (s.State, s.Error) = (DatasetStates.Failed, $"{s.Attempts} merge attempts ended without a result{(s.Error != null ? $"; earlier error: {s.Error}" : "")}");
            await FinishAsync();
            return;
        }
        s.Attempts++;
        s.UpdatedAt = DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
        await Redrive.Arm(this, settings);
        var attempt = _running = s.Attempts;
        DelayDeactivation(TimeSpan.FromDays(1));
        var self = this.AsReference<IDatasetGrain>();
        slots.Run($"merge of {this.GetPrimaryKeyString()} attempt {attempt}", cancel => MergeAsync(request, cancel),
            (result, error) => self.Complete(attempt, result, error == null ? null : Redrive.Describe(error)));
    }

    /// <summary>In a work slot: every video's sketch read back and checked against what its grain recorded, then the pipeline's merge.</summary>
    private async Task<MergeResult> MergeAsync(MergeRequest request, CancellationToken cancel)
    {
        if (!IngestionPipelines.TryCreate(request.Pipeline, out var pipeline))
            throw new InvalidOperationException($"this silo does not have the ingestion pipeline '{request.Pipeline}'");
        var videos = new List<MergedVideo>();
        foreach (var v in request.Videos.OrderBy(v => v.VideoId, StringComparer.Ordinal))
        {
            if (v.State != VideoStates.Done || v.Sketch == null)
                throw new InvalidOperationException($"merge asked for with video '{v.VideoId}' not done (state {v.State})");
            var sketch = await ReadVerifiedAsync(v.Sketch, cancel);
            videos.Add(new MergedVideo(v.VideoId, v.Uri, new VideoResult(v.Outputs, v.Rows ?? 0, sketch)));
        }
        return await pipeline.Merge.MergeAsync(request.DatasetPrefix, videos, blobs, cancel);
    }

    private async Task<byte[]> ReadVerifiedAsync(OutputBlob blob, CancellationToken cancel)
    {
        using var buffer = new MemoryStream();
        await using (var stream = await blobs.OpenReadAsync(blob.Path, cancel))
            await stream.CopyToAsync(buffer, cancel);
        var bytes = buffer.ToArray();
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (bytes.Length != blob.Size || sha != blob.Sha256)
            throw new InvalidDataException($"statistics sketch '{blob.Path}' does not match what its video grain recorded ({bytes.Length} bytes, sha256 {sha}; recorded {blob.Size} bytes, sha256 {blob.Sha256})");
        return bytes;
    }

    private async Task FinishAsync()
    {
        state.State.UpdatedAt = DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
        await Redrive.Disarm(this, logger);
        DelayDeactivation(TimeSpan.Zero);
        logger.LogInformation("dataset {Dataset} {State}{Error}", this.GetPrimaryKeyString(), state.State.State, state.State.Error is { } e ? ": " + e : "");
        await ReportAsync();
    }

    private Task ReportAsync() =>
        GrainFactory.GetGrain<IIngestionJobGrain>(state.State.Request!.JobId).MergeFinished(state.State.Result, state.State.Error);
}
