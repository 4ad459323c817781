using System.Collections.Concurrent;
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
using Orleans.TestingHost;

namespace GidCluster.Cluster.Tests;

/// <summary>Counts the grain calls each job grain makes and receives (per job id), on every silo.</summary>
public sealed class JobCallCounter : IIncomingGrainCallFilter, IOutgoingGrainCallFilter
{
    public static readonly ConcurrentDictionary<string, int> Calls = new();
    private static readonly GrainType JobType = GrainType.Create(GrainNames.JobType);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        // The test's own status polls are not the job's work.
        if (context.TargetId.Type == JobType && context.MethodName is not nameof(IIngestionJobGrain.GetView))
            Calls.AddOrUpdate(context.TargetId.Key.ToString()!, 1, (_, n) => n + 1);
        return context.Invoke();
    }

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        if (context.SourceId is { } source && source.Type == JobType)
            Calls.AddOrUpdate(source.Key.ToString()!, 1, (_, n) => n + 1);
        return context.Invoke();
    }
}

/// <summary>
/// Scale on paper, checked: one coordinator and 32 worker silos (Orleans' InProcessTestCluster, one
/// process), our SQLite grain storage and reminders, and the cheap checksum pipeline over 3,015
/// small files. Every video runs exactly once, a video's grain state stays under 2 KB, and the job
/// grain's calls per video do not grow with the job's size (a 301-video job against the big one).
/// </summary>
public sealed class ScaleSimulationTests
{
    private const int Workers = 32;

    [Fact]
    public async Task A_job_of_3015_videos_on_32_worker_silos_runs_each_video_once_with_constant_coordinator_work()
    {
        using var dir = Paths.NewTempDir("gid-scale");
        var root = Path.Combine(dir.Path, "videos");
        Directory.CreateDirectory(root);
        var videos = Enumerable.Range(0, 3015).Select(i =>
        {
            var path = Path.Combine(root, $"v{i:D5}.bin");
            File.WriteAllText(path, $"video {i}\n");
            return path;
        }).ToList();
        ChecksumPipeline.Register();
        var file = new SqliteFile(Path.Combine(dir.Path, "grains.db"));
        var blobs = new LocalBlobStore(Path.Combine(dir.Path, "blobs"));
        var builder = new InProcessTestClusterBuilder((short)(Workers + 1));
        builder.ConfigureSilo((options, silo) =>
        {
            // Silo_0 coordinates; the others are the workers, as the silo host splits the roles.
            var coordinator = options.SiloName == "Silo_0";
            silo.Services.PostConfigure<GrainTypeOptions>(o => GidCluster.Silo.Hosting.SiloHost.HostRoleGrains(o, coordinator, !coordinator));
            silo.AddSqliteProviders(file);
            silo.AddIncomingGrainCallFilter<JobCallCounter>();
            silo.AddOutgoingGrainCallFilter<JobCallCounter>();
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            // 33 silos share two cores here: a call can wait long behind the others; the test is about exactly-once, not latency.
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(3));
            silo.Services.AddSingleton(new GrainSettings(ChecksumPipeline.Name, 64, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1)));
            silo.Services.AddSingleton<IBlobStore>(blobs);
            silo.Services.AddSingleton(new VideoSources([root]));
            silo.Services.AddSingleton(sp => new WorkSlots(1, sp.GetRequiredService<ILogger<WorkSlots>>()));
        });
        builder.ConfigureClient(client => client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(3)));
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        // The client learns grain types from the silos' manifests: under load, its gateway (a worker) may not list the
        // coordinator's job grain yet, and GetGrain throws "could not find an implementation" until it does.
        bool JobGrainKnown()
        {
            try
            {
                cluster.Client.GetGrain<IIngestionJobGrain>("probe");
                return true;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
        await Waits.UntilAsync(() => Task.FromResult(JobGrainKnown()), TimeSpan.FromMinutes(2), () => "the client never learned the ingestion job grain type");

        async Task<JobView> RunAsync(string id, IReadOnlyList<string> paths)
        {
            var job = cluster.Client.GetGrain<IIngestionJobGrain>(id);
            await job.Submit(new SubmitIngestionRequest(paths, id, ChecksumPipeline.Name));
            JobView? view = null;
            await Waits.UntilAsync(async () => (view = await job.GetView(false))!.State is JobStates.Succeeded or JobStates.Failed,
                TimeSpan.FromMinutes(10), () => $"{id}: {view?.State} {view?.Done}/{view?.Total}");
            return (await job.GetView(withVideos: true))!;
        }

        var small = await RunAsync("scale-small", videos.Take(301).ToList());
        var big = await RunAsync("scale-big", videos);
        Assert.Equal((JobStates.Succeeded, 3015, 0), (big.State, big.Done, big.Quarantined));

        // Every video exactly once: one attempt each, one checksum line each, and each line right.
        Assert.All(big.Videos, v => Assert.Equal((VideoStates.Done, 1), (v.State, v.Attempts)));
        var lines = File.ReadAllLines(Path.Combine(dir.Path, "blobs", "datasets", "scale-big", "checksums.txt"));
        Assert.Equal(3015, lines.Length);
        Assert.Equal(3015, lines.Select(l => l.Split(' ')[0]).Distinct().Count());
        var expected = videos.ToDictionary(VideoSources.VideoId, p => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(p))));
        Assert.All(lines, l => Assert.Equal(expected[l.Split(' ')[0]], l.Split(' ')[1]));
        // Spread over the workers: every one of them ran videos.
        Assert.Equal(Workers, big.Videos.Select(v => v.Silo).Distinct().Count());

        // Grain state per video, as stored.
        using (var c = file.Open())
        {
            using var command = SqliteFile.Command(c, "SELECT COUNT(*), MAX(LENGTH(data)) FROM grain_state WHERE name = 'video' AND grain_id LIKE '%scale-big/%'");
            using var reader = command.ExecuteReader();
            Assert.True(reader.Read());
            Assert.Equal(3015, reader.GetInt64(0));
            Assert.InRange(reader.GetInt64(1), 1, 2048);
        }

        // The job grain's own calls per video: the same for 301 and 3,015 videos (within polling noise).
        var perSmall = JobCallCounter.Calls["scale-small"] / 301.0;
        var perBig = JobCallCounter.Calls["scale-big"] / 3015.0;
        Console.WriteLine($"job grain calls per video: {perSmall:0.00} (301 videos), {perBig:0.00} (3,015 videos)");
        Assert.InRange(perBig, 1.9, perSmall * 1.5 + 0.5);
        Assert.Equal(301, small.Done);
    }
}
