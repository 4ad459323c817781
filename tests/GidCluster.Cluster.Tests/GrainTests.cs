using System.Security.Cryptography;
using GidCluster.Contracts;
using GidCluster.Grains;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Sqlite;
using GidCluster.Grains.Work;
using GidCluster.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// Orleans' InProcessTestCluster (2 silos) over our SQLite grain storage and reminder table, a local
/// blob directory and real work slots; a few real videos and one file that is not a video.
/// </summary>
public sealed class GrainClusterFixture : IAsyncLifetime
{
    public TempDir Dir { get; } = Paths.NewTempDir("gid-grains");
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IReadOnlyList<string> Videos { get; private set; } = [];
    public string Broken => Path.Combine(Dir.Path, "videos", "broken.mp4");
    public string Database => Path.Combine(Dir.Path, "grains.db");
    public LocalBlobStore Blobs => new(Path.Combine(Dir.Path, "blobs"));
    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        Videos = SyntheticVideos.Make(Path.Combine(Dir.Path, "videos"), 3, seconds: 1);
        File.WriteAllText(Broken, "this is not a video");
        ChecksumPipeline.Register();
        var file = new SqliteFile(Database);
        var root = Path.Combine(Dir.Path, "videos");
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddSqliteProviders(file);
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            silo.Services.AddSingleton(new GrainSettings(FrameStatsProcessor.PipelineName, 8, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2)));
            silo.Services.AddSingleton<IBlobStore>(Blobs);
            silo.Services.AddSingleton(new VideoSources([root]));
            silo.Services.AddSingleton(sp => new WorkSlots(2, sp.GetRequiredService<ILogger<WorkSlots>>()));
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Dir.Dispose();
    }
}

public sealed class GrainTests(GrainClusterFixture fixture) : IClassFixture<GrainClusterFixture>
{
    private static VideoTask Task(string job, string path, int maxAttempts = 3, string pipeline = FrameStatsProcessor.PipelineName)
    {
        var id = VideoSources.VideoId(path);
        return new VideoTask(job, id, path, $"datasets/{job}/videos/{id}", pipeline, maxAttempts);
    }

    private static async Task<VideoStatus> UntilFinishedAsync(IVideoGrain grain)
    {
        VideoStatus? status = null;
        await Waits.UntilAsync(async () => (status = await grain.GetStatus())?.State is VideoStates.Done or VideoStates.Quarantined,
            TimeSpan.FromSeconds(60), () => $"video {status?.State}, attempt {status?.Attempts}");
        return status!;
    }

    [Fact]
    public async Task A_video_runs_once_records_its_outputs_and_survives_reactivation()
    {
        var grain = fixture.Grains.GetGrain<IVideoGrain>("g-video/one");
        Assert.Null(await grain.GetStatus());
        var started = await grain.Start(Task("g-video", fixture.Videos[0]));
        Assert.Equal((VideoStates.Running, 1), (started.State, started.Attempts));
        var done = await UntilFinishedAsync(grain);
        Assert.Equal((VideoStates.Done, 1, (string?)null), (done.State, done.Attempts, done.Error));
        // Outputs as recorded match the blob store's bytes: size and sha256.
        foreach (var blob in done.Outputs.Append(done.Sketch!))
        {
            await using var stream = await fixture.Blobs.OpenReadAsync(blob.Path);
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            Assert.Equal((blob.Size, blob.Sha256), (copy.Length, Convert.ToHexStringLower(SHA256.HashData(copy.ToArray()))));
        }
        // Starting again is a no-op: no second attempt.
        Assert.Equal((VideoStates.Done, 1), ((await grain.Start(Task("g-video", fixture.Videos[0]))).State, (await grain.GetStatus())!.Attempts));
        // A fresh activation reads the same state back from SQLite.
        await fixture.Cluster.DeactivateAsync(grain);
        var again = (await grain.GetStatus())!;
        Assert.Equal((done.State, done.Attempts, done.Rows, done.Outputs.Count, done.Sketch), (again.State, again.Attempts, again.Rows, again.Outputs.Count, again.Sketch));
        Assert.Equal(done.Outputs, again.Outputs);
    }

    [Fact]
    public async Task A_failing_video_is_retried_then_quarantined_with_its_error()
    {
        var grain = fixture.Grains.GetGrain<IVideoGrain>("g-bad/broken");
        await grain.Start(Task("g-bad", fixture.Broken, maxAttempts: 2));
        var status = await UntilFinishedAsync(grain);
        Assert.Equal((VideoStates.Quarantined, 2), (status.State, status.Attempts));
        Assert.Contains("attempt 2 of 2", status.Error);
        Assert.Contains("ffmpeg", status.Error);
        Assert.Empty(status.Outputs);
    }

    [Fact]
    public async Task A_stale_writer_is_refused_by_the_etag_and_the_grain_rereads_newer_state()
    {
        var run = fixture.Grains.GetGrain<ITrainingRunGrain>("etag-run");
        await run.Create();
        await run.RecordMetrics(1, 1.0, 2.0);
        // Another writer (as a second activation would) updates the row behind the active grain's back.
        var storage = new SqliteGrainStorage(new SqliteFile(fixture.Database), fixture.Cluster.GetSiloServiceProvider().GetRequiredService<IGrainStorageSerializer>());
        var state = new GrainState<GidCluster.Grains.Training.TrainingRunState>();
        var id = run.GetGrainId();
        await storage.ReadStateAsync("run", id, state);
        Assert.True(state.RecordExists);
        var stale = state.ETag;
        state.State!.Error = "written by the newer activation";
        await storage.WriteStateAsync("run", id, state);
        // The old ETag no longer writes, here or in the grain.
        var old = new GrainState<GidCluster.Grains.Training.TrainingRunState>(state.State) { ETag = stale, RecordExists = true };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("run", id, old));
        await Assert.ThrowsAsync<InconsistentStateException>(() => run.RecordMetrics(2, 0.5, 2.0));
        // Orleans drops the stale activation; the next call sees the newer state, and writes on top of it.
        await Waits.UntilAsync(async () =>
        {
            try { return (await run.GetView())!.Error == "written by the newer activation"; }
            catch (InconsistentStateException) { return false; }
        }, TimeSpan.FromSeconds(30), () => "the grain never re-read its state");
        await run.RecordMetrics(3, 0.25, 2.0);
        Assert.Equal([1.0, 0.25], (await run.GetCurves()).Loss!.Values);
    }

    [Fact]
    public async Task A_job_runs_its_videos_merges_them_and_keeps_its_view_after_reactivation()
    {
        var job = fixture.Grains.GetGrain<IIngestionJobGrain>("g-job");
        var submitted = await job.Submit(new SubmitIngestionRequest([.. fixture.Videos], "g-job", FrameStatsProcessor.PipelineName));
        Assert.Equal((3, JobStates.Running), (submitted.Total, submitted.State));
        await Assert.ThrowsAnyAsync<Exception>(() => job.Submit(new SubmitIngestionRequest([.. fixture.Videos])));
        JobView? view = null;
        await Waits.UntilAsync(async () => (view = await job.GetView(false))!.State is JobStates.Succeeded or JobStates.Failed, TimeSpan.FromSeconds(90), () => $"{view?.State} {view?.Done}/3");
        Assert.Equal((JobStates.Succeeded, 3, "datasets/g-job/manifest.json"), (view!.State, view.Done, view.Manifest));
        var dataset = (await fixture.Grains.GetGrain<IDatasetGrain>("g-job").GetView())!;
        Assert.Equal(("done", "g-job", 1), (dataset.State, dataset.JobId, dataset.Attempts));
        Assert.Contains("g-job", await fixture.Grains.GetGrain<ICatalogGrain>(Catalogs.Datasets).List(100));

        await fixture.Cluster.DeactivateAsync(job);
        var again = (await job.GetView(withVideos: true))!;
        Assert.Equal((JobStates.Succeeded, 3, view.ManifestSha256), (again.State, again.Done, again.ManifestSha256));
        Assert.All(again.Videos, v => Assert.Equal((VideoStates.Done, 1), (v.State, v.Attempts)));
    }

    [Fact]
    public async Task A_bad_submission_names_its_field_across_the_grain_call()
    {
        var e = await Assert.ThrowsAsync<SubmissionException>(() =>
            fixture.Grains.GetGrain<IIngestionJobGrain>("g-bad-submit").Submit(new SubmitIngestionRequest(["/etc/passwd"])));
        Assert.Equal("videos[0]", e.Field);
        Assert.Contains("outside the allowed roots", e.Message);
        Assert.Null(await fixture.Grains.GetGrain<IIngestionJobGrain>("g-bad-submit").GetView(false));
    }
}
