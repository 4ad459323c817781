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
}

/// <summary>
/// A training run as the client and the dashboard see it: state, checkpoints (files in the blob
/// store with sha256) and loss/step-rate curves; <see cref="Launch"/> starts its rank processes on this
/// silo under a <see cref="RankSupervisor"/>, which reports back through this grain. While the run is unfinished a
/// durable reminder is armed: if the silo dies, the next activation (the reminder's tick or any call) supervises the
/// run again from the newest checkpoint the ranks left on disk.
/// </summary>
[GrainType(GrainNames.TrainingRunType)]
public sealed class TrainingRunGrain([PersistentState("run", GrainNames.Storage)] IPersistentState<TrainingRunState> state,
    IBlobStore blobs, GrainSettings settings, ILogger<TrainingRunGrain> logger) : Grain, ITrainingRunGrain, IRemindable
{
    /// <summary>Curves keep at most this many points: every other one is dropped when full.</summary>
    private const int MaxPoints = 800;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists && state.State is { State: "running", Launch: not null })
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
            s.Loss.Count == 0 ? null : s.Loss[^1], s.SamplesPerSecond, s.StepRate.Count == 0 ? null : s.StepRate[^1]));
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
