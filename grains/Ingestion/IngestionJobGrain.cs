using GidCluster.Contracts;
using GidCluster.Grains.Datasets;
using GidCluster.Grains.Work;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Metadata;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace GidCluster.Grains.Ingestion;

/// <summary>A job grain's persisted state: the spec and the phase. Per-video progress lives in the video grains.</summary>
[GenerateSerializer]
public sealed class JobState
{
    [Id(0)] public IngestionSpec? Spec { get; set; }
    [Id(1)] public string State { get; set; } = JobStates.Running;
    [Id(2)] public DateTimeOffset CreatedAt { get; set; }
    [Id(3)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(4)] public MergeResult? Result { get; set; }
    [Id(5)] public string? Error { get; set; }
    [Id(6)] public List<EventView> Events { get; set; } = [];
}

/// <summary>
/// An ingestion job. It starts one video grain per video, at most <see cref="GrainSettings.MaxInFlight"/>
/// at a time, each on the worker silo with the fewest of this job's videos in flight (a placement
/// hint); when every video is done it asks the dataset grain to merge. It writes its state only when
/// its phase changes, and keeps per-video progress in memory: a finished video costs it constant
/// work, whatever the job's size. A fresh activation (after a crash) asks its videos where they are
/// and carries on; a reminder makes sure that happens.
/// </summary>
[GrainType(GrainNames.JobType)]
public sealed class IngestionJobGrain(
    [PersistentState("job", GrainNames.Storage)] IPersistentState<JobState> state,
    VideoSources sources, GrainSettings settings, IClusterMembershipService membership, IClusterManifestProvider manifests,
    IServiceProvider services, ILogger<IngestionJobGrain> logger) : Grain, IIngestionJobGrain, IRemindable
{
    private const int MaxEvents = 50;
    private static readonly GrainType VideoType = GrainType.Create(GrainNames.VideoType);

    /// <summary>Where workers' slot counts come from (absent in a silo built without silo metadata: then unbounded).</summary>
    private readonly ISiloMetadataCache? _metadata = services.GetService<ISiloMetadataCache>();
    private readonly Dictionary<string, VideoStatus?> _videos = new(StringComparer.Ordinal);
    private readonly Dictionary<string, VideoTask> _tasks = new(StringComparer.Ordinal);
    private readonly Queue<string> _queue = new();
    private readonly Dictionary<string, string?> _inFlight = new(StringComparer.Ordinal);
    private readonly HashSet<string> _finished = new(StringComparer.Ordinal);
    private readonly List<string> _quarantined = [];
    private readonly Queue<long> _doneAt = new();
    private int _done;
    private int _placements;
    private IGrainTimer? _timer;

    private string Id => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!state.RecordExists || state.State.Spec == null)
            return;
        Load(state.State.Spec);
        if (state.State.State is JobStates.Succeeded or JobStates.Failed)
        {
            await CatchUpAsync(onlyUnfinished: false);
            return;
        }
        logger.LogInformation("job {Job} resumes ({State})", Id, state.State.State);
        await CatchUpAsync(onlyUnfinished: false);
        StartTimer();
        await AdvanceAsync();
    }

    public async Task<JobView> Submit(SubmitIngestionRequest request)
    {
        if (state.RecordExists)
            throw new InvalidOperationException($"job '{Id}' already exists");
        var spec = IngestionJobs.Validate(request, sources, settings.DefaultPipeline, Id);
        var now = DateTimeOffset.UtcNow;
        state.State = new JobState { Spec = spec, State = JobStates.Running, CreatedAt = now, UpdatedAt = now };
        AddEvent("job.submitted", null, $"{spec.Videos.Count} videos, pipeline {spec.Pipeline}, dataset {spec.DatasetPrefix}");
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<ICatalogGrain>(Catalogs.IngestionJobs).Add(Id);
        await Redrive.Arm(this, settings);
        logger.LogInformation("job {Job} submitted: {Videos} videos, pipeline {Pipeline}", Id, spec.Videos.Count, spec.Pipeline);
        Load(spec);
        foreach (var id in _tasks.Keys)
            _queue.Enqueue(id);
        StartTimer();
        await AdvanceAsync();
        return View(withVideos: false);
    }

    public Task<JobView?> GetView(bool withVideos) => Task.FromResult(state.RecordExists ? View(withVideos) : null);

    public Task<JobSpectrum?> GetSpectrum() => Task.FromResult(state.State.Result?.Spectrum);

    public Task<IReadOnlyList<EventView>> GetEvents(int limit) =>
        Task.FromResult<IReadOnlyList<EventView>>(state.State.Events.AsEnumerable().Reverse().Take(limit).ToList());

    public async Task VideoFinished(VideoStatus status)
    {
        if (!_videos.ContainsKey(status.VideoId))
            return;
        Track(status);
        await AdvanceAsync();
    }

    public async Task MergeFinished(MergeResult? result, string? error)
    {
        if (state.State.State != JobStates.Merging)
            return;
        await FinishAsync(result != null ? JobStates.Succeeded : JobStates.Failed, result, result != null ? null : $"statistics merge failed: {error}");
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // The activation already resumed the job; a finished job has no use for its reminder.
        if (state.State.State is JobStates.Succeeded or JobStates.Failed)
            await Redrive.Disarm(this, logger);
    }

    private void Load(IngestionSpec spec)
    {
        foreach (var path in spec.Videos)
        {
            var id = VideoSources.VideoId(path);
            _tasks[id] = new VideoTask(Id, id, path, $"{spec.DatasetPrefix}/videos/{id}", spec.Pipeline, spec.MaxAttempts) { Parameters = spec.Parameters };
            _videos[id] = null;
        }
    }

    private IVideoGrain Video(string videoId) => GrainFactory.GetGrain<IVideoGrain>(IngestionJobs.VideoGrainKey(Id, videoId));

    /// <summary>After a restart: what every video (or every one in flight) is doing now. Calling a video whose silo died activates it elsewhere, which re-drives it.</summary>
    private async Task CatchUpAsync(bool onlyUnfinished)
    {
        var ids = onlyUnfinished ? _inFlight.Keys.ToList() : _videos.Keys.ToList();
        foreach (var batch in ids.Chunk(256))
        {
            var statuses = await Task.WhenAll(batch.Select(async id =>
            {
                try { return (id, status: await Video(id).GetStatus()); }
                catch (Exception e)
                {
                    logger.LogWarning("job {Job}: asking video {Video} failed: {Error}", Id, id, e.Message);
                    return (id, status: (VideoStatus?)null);
                }
            }));
            foreach (var (id, status) in statuses)
            {
                if (status != null)
                    Track(status);
                else if (!onlyUnfinished && !_queue.Contains(id))
                    // Never started, or not answering (its silo just died): Start is idempotent, so the queue retries it.
                    // Dropping the unanswered ones could strand a job at n-1 of n after a worker was killed.
                    _queue.Enqueue(id);
            }
        }
    }

    private void Track(VideoStatus status)
    {
        var id = status.VideoId;
        _videos[id] = status;
        if (status.State is VideoStates.Done or VideoStates.Quarantined)
        {
            _inFlight.Remove(id);
            if (!_finished.Add(id))
                return;
            if (status.State == VideoStates.Done)
            {
                _done++;
                _doneAt.Enqueue(status.UpdatedAt.ToUnixTimeMilliseconds());
                while (_doneAt.Count > 0 && _doneAt.Peek() < DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 600_000)
                    _doneAt.Dequeue();
                AddEvent("video.done", id, $"{status.Rows} rows after {status.Attempts} attempt(s) on {status.Silo}");
            }
            else
            {
                _quarantined.Add(id);
                AddEvent("video.quarantined", id, status.Error ?? "");
            }
        }
        else if (status.State == VideoStates.Running)
        {
            _inFlight[id] = status.Silo;
        }
    }

    /// <summary>Starts videos up to the bound, and the merge (or the failure) once every video finished.</summary>
    private async Task AdvanceAsync()
    {
        if (state.State.State == JobStates.Running)
        {
            while (_inFlight.Count < settings.MaxInFlight && _queue.Count > 0)
            {
                var (known, silo) = PickWorker();
                if (known && silo == null)
                    break; // every worker's slots hold a video of this job: the next one to finish brings us back
                var id = _queue.Dequeue();
                if (_finished.Contains(id) || _inFlight.ContainsKey(id))
                    continue;
                if (silo != null)
                    RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
                try
                {
                    _inFlight[id] = silo?.ToParsableString();
                    Track(await Video(id).Start(_tasks[id]));
                }
                catch (Exception e)
                {
                    // The timer tries again; the video keeps its place in line.
                    _inFlight.Remove(id);
                    _queue.Enqueue(id);
                    logger.LogWarning("job {Job}: starting video {Video} failed: {Error}", Id, id, e.Message);
                    break;
                }
                finally
                {
                    RequestContext.Remove(IPlacementDirector.PlacementHintKey);
                }
            }
            if (_finished.Count == _videos.Count)
                await MergeOrFailAsync();
        }
        else if (state.State.State == JobStates.Merging)
        {
            await StartMergeAsync();
        }
    }

    /// <summary>
    /// The active silo that hosts video grains and has the most free work slots for this job (ties in turn). A worker
    /// gets no more of the job's videos than it has slots: the rest wait here, so a worker that runs faster (a quieter
    /// core) takes more of them instead of all being split up front. Known false: no worker is known yet (place
    /// without a hint); silo null with known true: every worker is full.
    /// </summary>
    private (bool Known, SiloAddress? Silo) PickWorker()
    {
        var manifest = manifests.Current;
        var workers = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && manifest.Silos.TryGetValue(m.SiloAddress, out var g) && g.Grains.ContainsKey(VideoType))
            .Select(m => m.SiloAddress).OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).ToList();
        if (workers.Count == 0)
            return (false, null);
        var load = _inFlight.Values.Where(s => s != null).GroupBy(s => s!).ToDictionary(g => g.Key, g => g.Count());
        var turn = _placements++;
        var free = workers.Select((s, i) => (s, free: Slots(s) - load.GetValueOrDefault(s.ToParsableString()), order: (i - turn % workers.Count + workers.Count) % workers.Count))
            .Where(x => x.free > 0).OrderByDescending(x => x.free).ThenBy(x => x.order).ToList();
        return (true, free.Count > 0 ? free[0].s : null);
    }

    /// <summary>A worker's work slots as its silo metadata gives them; a silo without that metadata is not bounded here.</summary>
    private long Slots(SiloAddress silo) =>
        _metadata?.GetSiloMetadata(silo).Metadata.TryGetValue(WorkSlots.MetadataKey, out var text) == true
        && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var slots) && slots > 0
            ? slots : int.MaxValue;

    private async Task MergeOrFailAsync()
    {
        var partial = IngestionPipelines.TryCreate(state.State.Spec!.Pipeline, out var pipeline) && pipeline.PartialResults;
        if (_quarantined.Count > 0 && (!partial || _quarantined.Count == _videos.Count))
        {
            var error = $"{_quarantined.Count} of {_videos.Count} videos failed: " + string.Join("; ", _quarantined.Order(StringComparer.Ordinal).Select(id => $"{id}: {_videos[id]?.Error}"));
            await FinishAsync(JobStates.Failed, null, error);
            return;
        }
        state.State.State = JobStates.Merging;
        AddEvent("job.merging", null, _quarantined.Count == 0 ? $"all {_videos.Count} videos done; merging statistics"
            : $"{_done} of {_videos.Count} done, {_quarantined.Count} quarantined; merging the done ones");
        await state.WriteStateAsync();
        await StartMergeAsync();
    }

    private async Task StartMergeAsync()
    {
        var spec = state.State.Spec!;
        var videos = _videos.Values.Select(v => v!).Where(v => v.State == VideoStates.Done).OrderBy(v => v.VideoId, StringComparer.Ordinal).ToList();
        await GrainFactory.GetGrain<IDatasetGrain>(spec.Dataset).Merge(new MergeRequest(Id, spec.DatasetPrefix, spec.Pipeline, spec.MaxAttempts, videos));
    }

    private async Task FinishAsync(string finalState, MergeResult? result, string? error)
    {
        state.State.State = finalState;
        state.State.Result = result;
        state.State.Error = error;
        AddEvent($"job.{finalState}", null, error ?? "manifest written");
        await state.WriteStateAsync();
        _timer?.Dispose();
        _timer = null;
        await Redrive.Disarm(this, logger);
        logger.LogInformation("job {Job} {State}{Error}", Id, finalState, error != null ? ": " + error : "");
    }

    /// <summary>Every <see cref="GrainSettings.CheckInterval"/>: ask the videos in flight (or the dataset) how they are, then move on.</summary>
    private void StartTimer()
    {
        _timer ??= this.RegisterGrainTimer(async () =>
        {
            if (state.State.State == JobStates.Running)
            {
                await CatchUpAsync(onlyUnfinished: true);
                await AdvanceAsync();
            }
            else if (state.State.State == JobStates.Merging)
            {
                var view = await GrainFactory.GetGrain<IDatasetGrain>(state.State.Spec!.Dataset).GetView();
                if (view?.JobId == Id && view.State is DatasetStates.Done or DatasetStates.Failed)
                    await MergeFinished(view.Result, view.Error);
            }
        }, settings.CheckInterval, settings.CheckInterval);
    }

    /// <summary>Adds to the job's recent events (kept with its state: written with the next phase change).</summary>
    private void AddEvent(string kind, string? video, string message)
    {
        var events = state.State.Events;
        var id = events.Count == 0 ? 1 : events[^1].Id + 1;
        events.Add(new EventView(id, DateTimeOffset.UtcNow, Id, video == null ? null : IngestionJobs.VideoGrainKey(Id, video), null, kind, message));
        if (events.Count > MaxEvents)
            events.RemoveRange(0, events.Count - MaxEvents);
        state.State.UpdatedAt = DateTimeOffset.UtcNow;
    }

    private JobView View(bool withVideos)
    {
        var s = state.State;
        var spec = s.Spec!;
        VideoView ViewOf(string id) => _videos[id] is { } v
            ? new VideoView(id, v.Uri, v.State, v.Attempts, v.Error, v.Rows, v.Silo)
            : new VideoView(id, _tasks[id].VideoUri, VideoStates.Pending, 0, null, null);
        var running = _videos.Values.Count(v => v?.State == VideoStates.Running);
        return new JobView(Id, "ingestion", s.State, s.CreatedAt, s.UpdatedAt, spec.Pipeline, spec.DatasetPrefix, _videos.Count,
            _done, running, _videos.Count - _finished.Count - running, _quarantined.Count,
            s.Result?.ManifestPath, s.Result?.ManifestSha256, s.Result?.Rows, s.Error,
            withVideos ? _videos.Keys.Select(ViewOf).ToList() : [])
        {
            QuarantinedVideos = _quarantined.Select(ViewOf).ToList(),
            RecentDoneAt = [.. _doneAt],
        };
    }
}
