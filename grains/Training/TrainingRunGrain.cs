using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Work;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;

namespace GidCluster.Grains.Training;

[GenerateSerializer]
public sealed class TrainingRunState
{
    [Id(0)] public string State { get; set; } = "running";
    [Id(1)] public DateTimeOffset CreatedAt { get; set; }
    [Id(2)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(3)] public string? Error { get; set; }
    [Id(4)] public List<CheckpointView> Checkpoints { get; set; } = [];
    [Id(5)] public List<long> MetricAt { get; set; } = [];
    [Id(6)] public List<double> Loss { get; set; } = [];
    [Id(7)] public List<double> StepRate { get; set; } = [];
    [Id(8)] public TrainLaunchRequest? Launch { get; set; }
    [Id(9)] public int Restarts { get; set; }
    [Id(10)] public long? Step { get; set; }
    [Id(11)] public double? SamplesPerSecond { get; set; }
    [Id(12)] public JoinAttempt? Attempt { get; set; }
}

/// <summary>One attempt of a run whose ranks join (placement <c>join</c>): who joined, rank 0's address, where it resumes.</summary>
[GenerateSerializer]
public sealed class JoinAttempt
{
    [Id(0)] public int Number { get; set; } = 1;

    /// <summary>Rank → the joiner process that holds it.</summary>
    [Id(1)] public Dictionary<int, string> Joiners { get; set; } = [];

    [Id(2)] public string? Master { get; set; }

    /// <summary>The checkpoint every rank of this attempt resumes from, fixed when rank 0 joins.</summary>
    [Id(3)] public long? ResumeStep { get; set; }

    /// <summary>Ranks whose process ended successfully.</summary>
    [Id(4)] public HashSet<int> Finished { get; set; } = [];
}

/// <summary>
/// A training run as the client and the dashboard see it: state, checkpoints (files in the blob
/// store with sha256) and loss/step-rate curves. With placement <c>silo</c>, <see cref="Launch"/> starts its rank
/// processes on this silo under a <see cref="RankSupervisor"/>, which reports back through this grain; while the run is
/// unfinished a durable reminder is armed, and if the silo dies the next activation (the reminder's tick or any call)
/// supervises the run again from the newest checkpoint the ranks left on disk. With placement <c>join</c> the ranks are
/// started elsewhere (the Kubernetes training Job) and join through <see cref="JoinRank"/> (<see cref="RankJoiner"/>): the
/// grain hands out rank 0's address and the checkpoint to resume from, and ends an attempt when a rank fails, falls silent
/// or comes back as a new process; every rank then joins the next attempt.
/// </summary>
[GrainType(GrainNames.TrainingRunType)]
public sealed class TrainingRunGrain([PersistentState("run", GrainNames.Storage)] IPersistentState<TrainingRunState> state,
    IBlobStore blobs, GrainSettings settings, ILogger<TrainingRunGrain> logger) : Grain, ITrainingRunGrain, IRemindable
{
    /// <summary>Curves keep at most this many points: every other one is dropped when full.</summary>
    private const int MaxPoints = 800;

    /// <summary>A joined rank silent this long (no heartbeat; its machine or pod is gone) ends the attempt.</summary>
    public static readonly TimeSpan RankSilence = TimeSpan.FromSeconds(90);

    /// <summary>When each joined rank of the current attempt was last heard (not persisted: a new activation starts the clocks).</summary>
    private readonly Dictionary<int, DateTimeOffset> _heard = [];

    private bool Joins => state.State.Launch?.Placement == TrainPlacements.Join;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists && state.State is { State: "running", Launch: not null } && !Joins)
            Supervise(resumed: true);
        return Task.CompletedTask;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // The activation already resumed an unfinished run; a finished run has no use for its reminder.
        if (state.RecordExists && state.State.State != "running")
            await Redrive.Disarm(this, logger);
    }

    public async Task Create()
    {
        if (state.RecordExists)
            return;
        state.State = new TrainingRunState { CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow };
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<ICatalogGrain>(Catalogs.TrainingRuns).Add(this.GetPrimaryKeyString());
    }

    public Task<RunView?> GetView()
    {
        if (!state.RecordExists)
            return Task.FromResult<RunView?>(null);
        var s = state.State;
        return Task.FromResult<RunView?>(new RunView(this.GetPrimaryKeyString(), s.State, s.CreatedAt, s.UpdatedAt, s.Checkpoints.Count,
            s.Checkpoints.Count == 0 ? null : s.Checkpoints.Max(c => c.Step), s.Error));
    }

    public async Task RecordCheckpoint(long step, IReadOnlyList<CheckpointFileView> files)
    {
        Exists();
        state.State.Checkpoints.RemoveAll(c => c.Step == step);
        state.State.Checkpoints.Add(new CheckpointView(this.GetPrimaryKeyString(), step, DateTimeOffset.UtcNow, files));
        state.State.Checkpoints.Sort((a, b) => a.Step.CompareTo(b.Step));
        await SaveAsync();
    }

    public Task<IReadOnlyList<CheckpointView>> ListCheckpoints()
    {
        Exists();
        return Task.FromResult<IReadOnlyList<CheckpointView>>(state.State.Checkpoints.ToList());
    }

    public async Task RecordMetrics(long step, double loss, double stepsPerSecond)
    {
        Exists();
        var s = state.State;
        s.MetricAt.Add(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        s.Loss.Add(loss);
        s.StepRate.Add(stepsPerSecond);
        if (s.MetricAt.Count > MaxPoints)
        {
            static List<T> Thin<T>(List<T> l) => l.Where((_, i) => i % 2 == 0 || i == l.Count - 1).ToList();
            (s.MetricAt, s.Loss, s.StepRate) = (Thin(s.MetricAt), Thin(s.Loss), Thin(s.StepRate));
        }
        await SaveAsync();
    }

    public Task<(MetricSeries? Loss, MetricSeries? StepRate)> GetCurves()
    {
        var s = state.State;
        return Task.FromResult(s.MetricAt.Count == 0 ? ((MetricSeries?)null, (MetricSeries?)null)
            : (new MetricSeries(s.MetricAt.ToList(), s.Loss.ToList()), new MetricSeries(s.MetricAt.ToList(), s.StepRate.ToList())));
    }

    public async Task Finish(string finalState, string? error)
    {
        Exists();
        if (finalState is not ("succeeded" or "failed"))
            throw new ArgumentException($"a run ends succeeded or failed, not '{finalState}'", nameof(finalState));
        (state.State.State, state.State.Error) = (finalState, error);
        await SaveAsync();
        await Redrive.Disarm(this, logger);
        DeactivateOnIdle(); // undoes the supervision's delayed deactivation
    }

    public async Task Launch(TrainLaunchRequest request)
    {
        if (state.RecordExists && state.State.Launch is not null)
            throw new InvalidOperationException($"run '{this.GetPrimaryKeyString()}' was launched already");
        RankSupervisor.Validate(request);
        await Create();
        state.State.Launch = request;
        await SaveAsync();
        // Joined ranks are supervised by their own processes' calls (and Kubernetes); nothing to resume on a silo.
        if (Joins) return;
        await Redrive.Arm(this, settings);
        Supervise(resumed: false);
    }

    /// <summary>Starts the run's supervisor on this silo unless one already runs here (an earlier activation's).</summary>
    private void Supervise(bool resumed)
    {
        var supervisor = new RankSupervisor(this.GetPrimaryKeyString(), state.State.Launch!, GrainFactory, blobs, logger);
        if (!supervisor.TryStart(resumed))
            return;
        // Stay on this silo while its processes train: a later activation elsewhere would start a second set of ranks.
        DelayDeactivation(TimeSpan.FromDays(30));
        if (resumed)
            logger.LogInformation("run {Run} resumes on this silo from its newest checkpoint", this.GetPrimaryKeyString());
    }

    public Task<RunDetails?> GetDetails()
    {
        if (!state.RecordExists)
            return Task.FromResult<RunDetails?>(null);
        var s = state.State;
        var view = GetView().Result!;
        return Task.FromResult<RunDetails?>(new RunDetails(view, s.Launch, s.Restarts, s.Step,
            s.Loss.Count == 0 ? null : s.Loss[^1], s.SamplesPerSecond, s.StepRate.Count == 0 ? null : s.StepRate[^1])
        {
            Attempt = Joins ? s.Attempt?.Number ?? 1 : null,
            Joined = Joins ? s.Attempt?.Joiners.Count ?? 0 : null,
        });
    }

    public async Task RecordStep(long step, double loss, double samplesPerSecond, double stepsPerSecond)
    {
        (state.State.Step, state.State.SamplesPerSecond) = (step, samplesPerSecond);
        await RecordMetrics(step, loss, stepsPerSecond);
    }

    public async Task RecordRestart(string reason)
    {
        Exists();
        state.State.Restarts++;
        state.State.Error = reason;
        await SaveAsync();
    }

    public async Task<RankAssignment> JoinRank(RankJoinRequest request)
    {
        var run = this.GetPrimaryKeyString();
        if (!state.RecordExists || state.State.Launch is null)
            return new RankAssignment(RankAssignment.Wait, $"run {run} is not launched yet (gid train launch --run {run} --placement join …)", 0, null, null, null);
        var s = state.State;
        var launch = s.Launch;
        if (!Joins)
            throw new ArgumentException($"run {run} starts its own ranks on a silo (placement {launch.Placement}); only a run launched with --placement join takes joining ranks");
        if (request.WorldSize != launch.Ranks)
            throw new ArgumentException($"WORLD_SIZE {request.WorldSize} does not match run {run}, launched with --ranks {launch.Ranks}");
        if (request.Rank < 0 || request.Rank >= launch.Ranks)
            throw new ArgumentException($"RANK {request.Rank} is outside 0..{launch.Ranks - 1} of run {run}");
        if (request.Rank == 0 && string.IsNullOrEmpty(request.Master))
            throw new ArgumentException("rank 0 must give the rendezvous address it serves");
        if (s.State != "running")
            return Ended();
        s.Attempt ??= new JoinAttempt();
        if (s.Attempt.Joiners.TryGetValue(request.Rank, out var holder) && holder != request.Joiner)
        {
            // The rank's process was replaced (e.g. Kubernetes recreated its pod): the others' group is broken.
            await EndAttemptAsync($"rank {request.Rank} joined again from a new process (its previous one is gone)");
            if (s.State != "running")
                return Ended();
        }
        var attempt = s.Attempt;
        if (!attempt.Joiners.ContainsKey(request.Rank))
        {
            attempt.Joiners[request.Rank] = request.Joiner;
            if (request.Rank == 0)
                (attempt.Master, attempt.ResumeStep) = (request.Master, s.Checkpoints.Count == 0 ? null : s.Checkpoints[^1].Step);
            await SaveAsync();
        }
        _heard[request.Rank] = DateTimeOffset.UtcNow;
        return attempt.Master is null
            ? new RankAssignment(RankAssignment.Wait, $"waiting for rank 0 ({attempt.Joiners.Count} of {launch.Ranks} ranks joined attempt {attempt.Number})", attempt.Number, null, null, launch)
            : new RankAssignment(RankAssignment.Go, $"attempt {attempt.Number}: rank 0 at {attempt.Master}" + (attempt.ResumeStep is { } step ? $", resuming from step {step}" : ""),
                attempt.Number, attempt.Master, attempt.ResumeStep, launch);

        RankAssignment Ended() => new(RankAssignment.Ended, $"run {run} {s.State}" + (s.Error is null ? "" : $": {s.Error}"), s.Attempt?.Number ?? 0, null, null, launch);
    }

    public async Task<string> RankHeartbeat(int rank, string joiner, int attempt)
    {
        Exists();
        if (state.State.State != "running")
            return RankOrders.Ended;
        if (!Holds(rank, joiner, attempt))
            return RankOrders.Restart;
        var now = DateTimeOffset.UtcNow;
        _heard[rank] = now;
        var current = state.State.Attempt!;
        foreach (var other in current.Joiners.Keys.Where(r => !current.Finished.Contains(r)))
        {
            var heard = _heard.TryGetValue(other, out var at) ? at : _heard[other] = now;
            if (now - heard > RankSilence)
            {
                await EndAttemptAsync($"rank {other} was silent for {RankSilence.TotalSeconds:0} s");
                return state.State.State == "running" ? RankOrders.Restart : RankOrders.Ended;
            }
        }
        return RankOrders.Continue;
    }

    public async Task RankExited(int rank, string joiner, int attempt, int exitCode, string? error)
    {
        Exists();
        if (state.State.State != "running" || !Holds(rank, joiner, attempt))
            return; // a report from an attempt already over
        var current = state.State.Attempt!;
        if (exitCode != 0)
        {
            await EndAttemptAsync($"rank {rank} exited with code {exitCode}: {error}");
            return;
        }
        current.Finished.Add(rank);
        if (current.Finished.Count == state.State.Launch!.Ranks)
            await Finish("succeeded", null);
        else
            await SaveAsync();
    }

    private bool Holds(int rank, string joiner, int attempt) =>
        state.State.Attempt is { } current && current.Number == attempt && current.Joiners.TryGetValue(rank, out var holder) && holder == joiner;

    /// <summary>Ends the current attempt of joined ranks: every rank joins the next one, or the run fails after its restarts.</summary>
    private async Task EndAttemptAsync(string reason)
    {
        var s = state.State;
        var number = s.Attempt?.Number ?? 1;
        logger.LogWarning("run {Run}: attempt {Attempt} ends: {Reason}", this.GetPrimaryKeyString(), number, reason);
        if (s.Restarts >= s.Launch!.MaxRestarts)
        {
            await Finish("failed", $"{reason} (after {s.Restarts} restart(s))");
            return;
        }
        s.Restarts++;
        s.Error = reason;
        s.Attempt = new JoinAttempt { Number = number + 1 };
        _heard.Clear();
        await SaveAsync();
    }

    private void Exists()
    {
        if (!state.RecordExists)
            throw new InvalidOperationException($"no training run '{this.GetPrimaryKeyString()}'");
    }

    private Task SaveAsync()
    {
        state.State.UpdatedAt = DateTimeOffset.UtcNow;
        return state.WriteStateAsync();
    }
}
