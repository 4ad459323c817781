using System.Net.Http.Json;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Work;
using GidCluster.Silo.Hosting;
using GidCluster.TestSupport;
using Xunit.Abstractions;

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
/// Kill drills with real processes. A coordinator silo and two worker silos share one SQLite file
/// (grain state and reminders) and one blob directory, with localhost clustering; and the embedded
/// default, <c>gid up</c>, killed and started again. Whatever is killed, the job completes, every
/// video's result appears exactly once, and the dataset is byte-identical to the uninterrupted run's.
/// </summary>
[Collection(DrillCollection.Name)]
public sealed class DrillTests(DrillFixture fixture, ITestOutputHelper output)
{
    internal const string Token = "drill-token-7d1e93b0c5";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal static string[] SiloArgs(string role, string dir, string videos, int siloPort, int primary, int gateway) =>
    [
        "--role", role, "--store", $"sqlite:{dir}/c.db", "--blob", $"file:{dir}/blobs", "--urls", "http://127.0.0.1:0",
        "--allow", videos, "--silo-port", $"{siloPort}", "--gateway-port", $"{gateway}", "--slots", "1", "--check-seconds", "1", "--reminder-seconds", "2",
        .. siloPort == primary ? Array.Empty<string>() : ["--primary", $"127.0.0.1:{primary}"],
    ];

    [Fact]
    public async Task A_worker_killed_mid_video_loses_nothing_and_duplicates_nothing()
    {
        var dir = Path.Combine(fixture.Dir.Path, "worker-kill");
        var (primary, gateway) = (FreePorts.Next(), FreePorts.Next());
        var silos = new List<SiloProcess>();
        try
        {
            await WorkerKillAsync(dir, primary, gateway, silos);
        }
        catch
        {
            // Every silo's output, so that a failure can be read from the test log.
            foreach (var s in silos)
                output.WriteLine($"--- {s.Id}\n{s.Output}");
            throw;
        }
        finally
        {
            foreach (var s in Enumerable.Reverse(silos))
                s.Dispose();
        }
    }

    private async Task WorkerKillAsync(string dir, int primary, int gateway, List<SiloProcess> silos)
    {
        SiloProcess Start(SiloProcess silo)
        {
            silos.Add(silo);
            return silo;
        }
        var coordinator = Start(new SiloProcess("coord", SiloArgs("coordinator", dir, fixture.Videos, primary, primary, gateway), Token));
        var url = await coordinator.ListeningAsync();
        var w1 = Start(new SiloProcess("w1", SiloArgs("worker", dir, fixture.Videos, FreePorts.Next(), primary, gateway)));
        var w2 = Start(new SiloProcess("w2", SiloArgs("worker", dir, fixture.Videos, FreePorts.Next(), primary, gateway)));
        await Task.WhenAll(w1.ListeningAsync(), w2.ListeningAsync());
        using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
        // Both workers must be in the cluster before the job places its videos.
        await Waits.UntilAsync(async () => (await ClusterAsync(http)).Silos.Count(s => s.Alive && s.Role == "worker") == 2, TimeSpan.FromSeconds(30), () => "two workers never joined");

        // Kill w2 the moment it starts a video, without waiting for the submission's answer: the job answers only
        // after starting all eight videos, and frame-stats finishes a clip in a fraction of a second, so a kill
        // that waited for the answer could come after w2 had finished the video it was meant to die in.
        var started = w2.NextLineAsync("started ", TimeSpan.FromSeconds(60));
        var submit = SubmitAsync(http, Token, fixture.VideoPaths, "drill");
        await started;
        w2.Kill();
        var killedAt = System.Diagnostics.Stopwatch.StartNew();
        var job = await submit;
        // What w2 finished before it died (under load the SIGKILL may land after a video or two).
        var w2Lines = w2.Output;
        var doneOnW2 = Started(w2Lines, 1).Where(v => w2Lines.Contains($"/{v} done after 1 attempt(s)", StringComparison.Ordinal)).ToList();

        var view = await WaitForAsync(http, Token, job, TimeSpan.FromSeconds(120));
        Assert.Equal("succeeded", view.State);
        Assert.All(view.Videos, v => Assert.Equal(VideoStates.Done, v.State));
        // Run again on w1: at least one video (w2 died mid-video), each once, none that w1 ran or w2 finished;
        // every other video ran once. (A video can be started on w2 without its "started" line: killed in between.)
        var w1Lines = w1.Output;
        var rerun = Started(w1Lines, 2);
        Assert.True(rerun.Count > 0, $"no video was run again after the SIGKILL:\n{w2Lines}");
        Assert.Equal(rerun.Distinct().Count(), rerun.Count);
        Assert.Empty(rerun.Intersect(Started(w1Lines, 1).Concat(doneOnW2)));
        Assert.All(view.Videos, v => Assert.Equal((v.Id, rerun.Contains(v.Id) ? 2 : 1), (v.Id, v.Attempts)));
        Assert.All(rerun, v => Assert.Contains($"/{v} done after 2 attempt(s)", w1Lines));
        await AssertSameDatasetAsync(dir, "drill");
        Console.WriteLine($"worker kill drill: job finished {killedAt.Elapsed.TotalSeconds:0.0} s after the SIGKILL");

        foreach (var p in silos)
            Assert.DoesNotContain(Token, p.Output);
    }

    [Fact]
    public async Task A_job_keeps_no_more_videos_on_a_worker_than_its_work_slots()
    {
        var dir = Path.Combine(fixture.Dir.Path, "slots");
        var (primary, gateway) = (FreePorts.Next(), FreePorts.Next());
        using var coordinator = new SiloProcess("coord", SiloArgs("coordinator", dir, fixture.Videos, primary, primary, gateway), Token);
        using var http = new HttpClient { BaseAddress = new Uri(await coordinator.ListeningAsync() + "/") };
        using var w1 = new SiloProcess("w1", SiloArgs("worker", dir, fixture.Videos, FreePorts.Next(), primary, gateway));
        using var w2 = new SiloProcess("w2", SiloArgs("worker", dir, fixture.Videos, FreePorts.Next(), primary, gateway));
        await Task.WhenAll(w1.ListeningAsync(), w2.ListeningAsync());
        await Waits.UntilAsync(async () => (await ClusterAsync(http)).Silos.Count(s => s.Alive && s.Role == "worker") == 2, TimeSpan.FromSeconds(30), () => "two workers never joined");

        // One slot per worker (SiloArgs): the other videos wait in the job, not queued on a worker, so whichever worker is free takes the next.
        var job = await SubmitAsync(http, Token, fixture.VideoPaths, "slots");
        JobView? view = null;
        var most = 0;
        while ((view = await ViewAsync(http, job))?.State is not ("succeeded" or "failed"))
        {
            most = Math.Max(most, view?.Running ?? 0);
            await Task.Delay(50);
        }
        Assert.Equal("succeeded", view!.State);
        Assert.InRange(most, 1, 2);
        Assert.Equal(2, view.Videos.Select(v => v.Silo).Distinct().Count());
    }

    [Fact]
    public async Task The_embedded_default_killed_mid_job_finishes_after_a_restart()
    {
        using var data = Paths.NewTempDir("gid-up-kill");
        var env = new Dictionary<string, string> { ["GID_DATA"] = data.Path };
        var (siloPort, gateway) = (FreePorts.Next(), FreePorts.Next());
        string[] args = ["up", "--port", "0", "--silo-port", $"{siloPort}", "--gateway-port", $"{gateway}", "--slots", "1", "--reminder-seconds", "2", "--allow", fixture.Videos];
        var first = new SiloProcess("up", args, Token, program: "gid.dll", environment: env);
        SiloProcess? second = null;
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(await first.ListeningAsync() + "/") };
            var job = await SubmitAsync(http, Token, fixture.VideoPaths, "drill");
            JobView? before = null;
            await Waits.UntilAsync(async () => (before = await ViewAsync(http, job))?.Done >= 2, TimeSpan.FromSeconds(120), () => $"{before?.Done} videos done");
            first.Kill();
            Assert.Equal(JobStates.Running, before!.State);

            second = new SiloProcess("up", args, Token, program: "gid.dll", environment: env);
            using var http2 = new HttpClient { BaseAddress = new Uri(await second.ListeningAsync() + "/") };
            var view = await WaitForAsync(http2, Token, job, TimeSpan.FromSeconds(180));
            Assert.Equal("succeeded", view.State);
            // Videos done before the kill are never run again; the others ran to one result each.
            foreach (var done in before.Videos.Where(v => v.State == VideoStates.Done))
                Assert.Equal((VideoStates.Done, 1), (view.Videos.Single(v => v.Id == done.Id).State, view.Videos.Single(v => v.Id == done.Id).Attempts));
            Assert.All(view.Videos, v => Assert.Equal(VideoStates.Done, v.State));
            await AssertSameDatasetAsync(data.Path, "drill");
            // Shown once at each start, to its user; never in a log line.
            Assert.Equal(2, (first.Output + second.Output).Split('\n').Count(l => l.Contains(Token, StringComparison.Ordinal)));
        }
        finally
        {
            first.Dispose();
            second?.Dispose();
        }
    }

    /// <summary>The videos of the "started JOB/VIDEO (attempt N)" lines in a silo's output.</summary>
    private static List<string> Started(string output, int attempt) =>
        System.Text.RegularExpressions.Regex.Matches(output, $@"started \S+/(\S+) \(attempt {attempt}\)").Select(m => m.Groups[1].Value).ToList();

    internal static async Task<ClusterView> ClusterAsync(HttpClient http)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/cluster");
        request.Headers.Authorization = new("Bearer", Token);
        using var response = await http.SendAsync(request);
        return (await response.Content.ReadFromJsonAsync<ClusterView>(Json))!;
    }

    internal static async Task<JobView?> ViewAsync(HttpClient http, string job)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/ingestion/jobs/{job}");
        request.Headers.Authorization = new("Bearer", Token);
        using var response = await http.SendAsync(request);
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JobView>(Json) : null;
    }

    private Task AssertSameDatasetAsync(string dir, string dataset) => AssertSameDatasetAsync(fixture, dir, dataset);

    /// <summary>The dataset under <paramref name="dir"/>/blobs is byte-identical to the fixture's uninterrupted run, each video (and sample) once.</summary>
    internal static async Task AssertSameDatasetAsync(DrillFixture fixture, string dir, string dataset)
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
