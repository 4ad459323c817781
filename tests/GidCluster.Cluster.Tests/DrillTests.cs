using System.Net.Http.Json;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Store;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// Eight synthetic videos and the dataset an uninterrupted run makes of them (one silo, both roles).
/// The pipeline is <c>frame-stats</c> unless <c>GID_DRILL_PIPELINE</c> names another registered one
/// (e.g. dataprep once it is wired in), so the same drills run over the real per-video work.
/// </summary>
public sealed class DrillFixture : IAsyncLifetime
{
    public static string Pipeline { get; } = Environment.GetEnvironmentVariable("GID_DRILL_PIPELINE") is { Length: > 0 } p ? p : "frame-stats";

    public TempDir Dir { get; } = Paths.NewTempDir("gid-drill");
    public string Videos => Path.Combine(Dir.Path, "videos");
    public IReadOnlyList<string> VideoPaths { get; private set; } = [];
    public Dictionary<string, byte[]> Reference { get; private set; } = [];

    public async Task InitializeAsync()
    {
        // Dataprep: two clips per video keep the drills' runtime bounded (the silo processes inherit this).
        if (Pipeline == "dataprep" && Environment.GetEnvironmentVariable(GidCluster.Silo.Ingestion.DataprepPipeline.MaxClipsVariable) is null or "")
            Environment.SetEnvironmentVariable(GidCluster.Silo.Ingestion.DataprepPipeline.MaxClipsVariable, "2");
        // Dataprep needs 150 frames after a start frame: 6 s at 30 fps; frame-stats is fine with less.
        VideoPaths = SyntheticVideos.Make(Videos, 8, seconds: Pipeline == "frame-stats" ? 3 : 6);
        var dir = Path.Combine(Dir.Path, "reference");
        await using var silo = await InProcessSilo.StartAsync($"sqlite:{dir}/c.db", $"file:{dir}/blobs", [Videos]);
        var job = await DrillTests.SubmitAsync(silo.Http, InProcessSilo.Token, VideoPaths, "reference");
        await DrillTests.WaitForAsync(silo.Http, InProcessSilo.Token, job, TimeSpan.FromSeconds(120));
        Reference = await DrillTests.DatasetAsync(new LocalBlobStore($"{dir}/blobs"), "reference");
    }

    public Task DisposeAsync()
    {
        Dir.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// Kill drills with real processes: a coordinator and two workers share one SQLite store and one
/// blob directory. Whatever is killed, the job completes, every video's result appears exactly
/// once, and the dataset is byte-identical to the uninterrupted run's.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed class DrillTests(DrillFixture fixture)
{
    private const string Token = "drill-token-7d1e93b0c5";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static string[] SiloArgs(string role, string dir, string videos, int port = 0) =>
    [
        "--role", role, "--store", $"sqlite:{dir}/c.db", "--blob", $"file:{dir}/blobs", "--urls", $"http://127.0.0.1:{port}",
        "--allow", videos, "--lease-seconds", "3", "--poll-ms", "100", "--heartbeat-seconds", "1", "--drain-seconds", "10",
    ];

    [Fact]
    public async Task A_worker_killed_mid_video_loses_nothing_and_duplicates_nothing()
    {
        var dir = Path.Combine(fixture.Dir.Path, "worker-kill");
        using var coordinator = new SiloProcess("coord", SiloArgs("coordinator", dir, fixture.Videos), Token);
        using var w1 = new SiloProcess("w1", SiloArgs("worker", dir, fixture.Videos));
        using var w2 = new SiloProcess("w2", SiloArgs("worker", dir, fixture.Videos));
        var url = await coordinator.ListeningAsync();
        await Task.WhenAll(w1.ListeningAsync(), w2.ListeningAsync());
        using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
        await using var store = StoreUri.Open($"sqlite:{dir}/c.db");

        // Kill w2 the moment it reports a claim: a video takes far longer, so it dies mid-video for sure.
        var claimed = w2.NextLineAsync("/video/", TimeSpan.FromSeconds(60));
        var job = await SubmitAsync(http, Token, fixture.VideoPaths, "drill");
        var line = await claimed;
        w2.Kill();
        var victim = (await store.GetGrainAsync(System.Text.RegularExpressions.Regex.Match(line, @"claimed (\S+) ").Groups[1].Value))!;
        Assert.Equal((GrainStates.Leased, "w2", 1), (victim.State, victim.LeaseOwner, victim.Attempts));

        var view = await WaitForAsync(http, Token, job, TimeSpan.FromSeconds(120));
        Assert.Equal("succeeded", view.State);
        var rescued = (await store.GetGrainAsync(victim.Id))!;
        Assert.Equal(GrainStates.Done, rescued.State);
        Assert.True(rescued.Fence > victim.Fence, $"fence {rescued.Fence} after the rescue, {victim.Fence} before");
        Assert.Equal(2, rescued.Attempts);
        var events = await store.ListEventsAsync(job, 1000);
        Assert.Single(events, e => e.GrainId == victim.Id && e.Kind == "grain.done");
        Assert.Equal("w1", events.Single(e => e.GrainId == victim.Id && e.Kind == "grain.done").SiloId);

        await AssertSameDatasetAsync(dir, "drill");

        // Graceful stop: both survivors drain and leave membership as stopped; the killed one does not.
        Assert.Equal(0, w1.Terminate(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, coordinator.Terminate(TimeSpan.FromSeconds(30)));
        var silos = (await store.ListSilosAsync()).ToDictionary(s => s.Id, s => s.State);
        Assert.Equal(("stopped", "stopped", "active"), (silos["coord"], silos["w1"], silos["w2"]));
        foreach (var p in new[] { coordinator, w1, w2 })
            Assert.DoesNotContain(Token, p.Output);
    }

    [Fact]
    public async Task A_coordinator_and_a_worker_killed_mid_job_resume_without_redoing_finished_videos()
    {
        var dir = Path.Combine(fixture.Dir.Path, "coordinator-kill");
        var port = PostgresServer.FreePort();
        var coordinator = new SiloProcess("coord", SiloArgs("coordinator", dir, fixture.Videos, port), Token);
        var w1 = new SiloProcess("w1", SiloArgs("worker", dir, fixture.Videos));
        using var w2 = new SiloProcess("w2", SiloArgs("worker", dir, fixture.Videos));
        SiloProcess? coordinator2 = null, w1b = null;
        try
        {
            var url = await coordinator.ListeningAsync();
            await Task.WhenAll(w1.ListeningAsync(), w2.ListeningAsync());
            using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
            await using var store = StoreUri.Open($"sqlite:{dir}/c.db");
            var job = await SubmitAsync(http, Token, fixture.VideoPaths, "drill");

            await Waits.UntilAsync(async () => (await store.ListGrainsAsync(job)).Count(g => g.State == GrainStates.Done) >= 3,
                TimeSpan.FromSeconds(60), () => "three videos were never done");
            coordinator.Kill();
            w1.Kill();
            var before = (await store.ListGrainsAsync(job)).Where(g => g.State == GrainStates.Done).ToDictionary(g => g.Id, g => g.Fence);
            Assert.InRange(before.Count, 3, 7);
            Assert.Equal(JobStates.Running, (await store.GetJobAsync(job))!.State);

            coordinator2 = new SiloProcess("coord", SiloArgs("coordinator", dir, fixture.Videos, port), Token);
            w1b = new SiloProcess("w1", SiloArgs("worker", dir, fixture.Videos));
            await coordinator2.ListeningAsync();
            var view = await WaitForAsync(http, Token, job, TimeSpan.FromSeconds(120));
            Assert.Equal("succeeded", view.State);

            var after = (await store.ListGrainsAsync(job)).ToDictionary(g => g.Id);
            foreach (var (id, fence) in before)
                Assert.Equal((GrainStates.Done, fence), (after[id].State, after[id].Fence)); // never claimed again
            Assert.Equal(8, after.Values.Count(g => g.Kind == GrainKinds.Video && g.State == GrainStates.Done));
            var events = await store.ListEventsAsync(job, 1000);
            Assert.All(after.Keys, id => Assert.Single(events, e => e.GrainId == id && e.Kind == "grain.done"));

            await AssertSameDatasetAsync(dir, "drill");
        }
        finally
        {
            coordinator.Dispose();
            w1.Dispose();
            coordinator2?.Dispose();
            w1b?.Dispose();
        }
    }

    private async Task AssertSameDatasetAsync(string dir, string dataset)
    {
        var made = await DatasetAsync(new LocalBlobStore($"{dir}/blobs"), dataset);
        Assert.Equal(fixture.Reference.Keys.Order(StringComparer.Ordinal), made.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, bytes) in fixture.Reference)
            Assert.True(bytes.AsSpan().SequenceEqual(made[key]), $"{key} differs from the uninterrupted run");
        Assert.Contains("manifest.json", made.Keys);
        if (DrillFixture.Pipeline == "dataprep")
        {
            AssertEverySampleOnce(Path.Combine(dir, "blobs", "datasets", dataset, "manifest.json"));
            return;
        }
        if (DrillFixture.Pipeline != "frame-stats")
            return;
        Assert.Equal(8 * 2 + 1, made.Count); // frame-stats.json and statistics.sketch per video, one manifest
        using var manifest = JsonDocument.Parse(made["manifest.json"]);
        var ids = manifest.RootElement.GetProperty("videos").EnumerateArray().Select(v => v.GetProperty("video_id").GetString()).ToList();
        Assert.Equal(8, ids.Distinct().Count());
        Assert.Equal(8, ids.Count);
    }

    /// <summary>The manifest's shards are intact and hold every (video, start frame) of the 8 videos exactly once.</summary>
    private static void AssertEverySampleOnce(string manifestPath)
    {
        var manifest = GidCluster.Dataprep.Manifest.ManifestFile.Read(manifestPath);
        GidCluster.Dataprep.Manifest.ManifestFile.Verify(manifestPath, manifest);
        var keys = new List<(string, int)>();
        foreach (var shard in manifest.Shards)
        {
            using var reader = GidCluster.Dataprep.Shards.ShardReader.Open(GidCluster.Dataprep.Manifest.ManifestFile.ShardPath(manifestPath, shard));
            keys.AddRange(reader.ReadAll().Select(s => (s.VideoId, s.StartFrame)));
        }
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(manifest.TotalRows, keys.Count);
        var clips = int.Parse(Environment.GetEnvironmentVariable(GidCluster.Silo.Ingestion.DataprepPipeline.MaxClipsVariable) ?? "0");
        var videos = keys.GroupBy(k => k.Item1).ToList();
        Assert.Equal(8, videos.Count); // every video is 6 s or more: at least 4 start frames each
        Assert.All(videos, g => Assert.Equal(Enumerable.Range(0, clips > 0 ? clips : g.Count()).Select(i => i * 10), g.Select(k => k.Item2).Order()));
    }

    /// <summary>Every object of a dataset, keyed by its path relative to the dataset.</summary>
    public static async Task<Dictionary<string, byte[]>> DatasetAsync(IBlobStore blobs, string dataset)
    {
        var prefix = $"datasets/{dataset}/";
        var result = new Dictionary<string, byte[]>();
        await foreach (var b in blobs.ListAsync(prefix))
        {
            await using var s = await blobs.OpenReadAsync(b.Path);
            using var m = new MemoryStream();
            await s.CopyToAsync(m);
            result[b.Path[prefix.Length..]] = m.ToArray();
        }
        return result;
    }

    public static async Task<string> SubmitAsync(HttpClient http, string token, IReadOnlyList<string> videos, string dataset)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/ingestion/jobs") { Content = JsonContent.Create(new SubmitIngestionRequest(videos, dataset, DrillFixture.Pipeline), options: Json) };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonSerializer.Deserialize<JobView>(body, Json)!.Id;
    }

    public static async Task<JobView> WaitForAsync(HttpClient http, string token, string job, TimeSpan limit)
    {
        JobView? view = null;
        await Waits.UntilAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"api/ingestion/jobs/{job}");
            request.Headers.Authorization = new("Bearer", token);
            try
            {
                using var response = await http.SendAsync(request);
                if (!response.IsSuccessStatusCode)
                    return false;
                view = await response.Content.ReadFromJsonAsync<JobView>(Json);
            }
            catch (HttpRequestException)
            {
                return false; // the coordinator is restarting
            }
            return view!.State is "succeeded" or "failed";
        }, limit, () => $"job {job}: {view?.State}, {view?.Done}/{view?.Total} done");
        return view!;
    }
}

[CollectionDefinition(Name)]
public sealed class DrillCollection : ICollectionFixture<DrillFixture>
{
    public const string Name = "drills";
}

/// <summary>SIGTERM drains a worker: work in progress finishes within the drain time, else its lease is released.</summary>
[Collection(DrillCollection.Name)]
public sealed class DrainTests(DrillFixture fixture)
{
    private const string Token = "drain-token-3c5a0e9f11";

    [Fact]
    public async Task Sigterm_finishes_the_grain_in_progress_or_releases_it_after_the_drain_time()
    {
        var dir = Path.Combine(fixture.Dir.Path, "drain");
        string[] Args(string role, string drain) =>
        [
            "--role", role, "--store", $"sqlite:{dir}/c.db", "--blob", $"file:{dir}/blobs", "--urls", "http://127.0.0.1:0",
            "--allow", fixture.Videos, "--lease-seconds", "30", "--poll-ms", "100", "--heartbeat-seconds", "1", "--drain-seconds", drain,
        ];
        using var coordinator = new SiloProcess("coord", Args("coordinator", "5"), Token);
        using var patient = new SiloProcess("patient", Args("worker", "60"));
        using var hasty = new SiloProcess("hasty", Args("worker", "0.01"));
        var url = await coordinator.ListeningAsync();
        await Task.WhenAll(patient.ListeningAsync(), hasty.ListeningAsync());
        using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
        await using var store = StoreUri.Open($"sqlite:{dir}/c.db");
        var job = await DrillTests.SubmitAsync(http, Token, fixture.VideoPaths, "drain");

        async Task<GrainRecord> HeldByAsync(string owner)
        {
            GrainRecord? held = null;
            await Waits.UntilAsync(async () =>
            {
                held = (await store.ListGrainsAsync(job)).FirstOrDefault(g => g.State == GrainStates.Leased && g.LeaseOwner == owner);
                return held != null;
            }, TimeSpan.FromSeconds(60), () => $"{owner} never held a lease");
            return held!;
        }

        var finishing = await HeldByAsync("patient");
        Assert.Equal(0, patient.Terminate(TimeSpan.FromSeconds(60)));
        var finished = (await store.GetGrainAsync(finishing.Id))!;
        Assert.Equal((GrainStates.Done, finishing.Fence), (finished.State, finished.Fence));
        Assert.Contains(await store.ListEventsAsync(job, 1000), e => e.GrainId == finishing.Id && e.Kind == "grain.done" && e.SiloId == "patient");

        // React to the claim itself (a video takes far longer than the signal), so the drain time surely runs out.
        var claimed = await hasty.NextLineAsync("claimed ", TimeSpan.FromSeconds(60));
        Assert.Equal(0, hasty.Terminate(TimeSpan.FromSeconds(30)));
        // "claimed ID (attempt N, fence F)": the release gives the attempt back and nobody holds the grain.
        var m = System.Text.RegularExpressions.Regex.Match(claimed, @"claimed (\S+) \(attempt (\d+), fence (\d+)\)");
        Assert.True(m.Success, claimed);
        var released = (await store.GetGrainAsync(m.Groups[1].Value))!;
        Assert.Equal((GrainStates.Pending, int.Parse(m.Groups[2].Value) - 1, (string?)null), (released.State, released.Attempts, released.LeaseOwner));
        var releasing = released;
        Assert.Contains(await store.ListEventsAsync(job, 1000), e => e.GrainId == releasing.Id && e.Kind == "grain.released" && e.SiloId == "hasty");
        var silos = (await store.ListSilosAsync()).ToDictionary(s => s.Id, s => s.State);
        Assert.Equal(("stopped", "stopped"), (silos["patient"], silos["hasty"]));
    }
}
