using System.Net;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace GidCluster.Cluster.Tests;

/// <summary>One silo (role all) over SQLite, shared by the API tests, with three synthetic videos under its allowed root.</summary>
public sealed class ApiFixture : IAsyncLifetime
{
    public TempDir Dir { get; } = Paths.NewTempDir("gid-api");
    public InProcessSilo Silo { get; private set; } = null!;
    public string Videos => Path.Combine(Dir.Path, "videos");

    public async Task InitializeAsync()
    {
        SyntheticVideos.Make(Videos, 3, seconds: 1);
        Silo = await InProcessSilo.StartAsync($"sqlite:{Path.Combine(Dir.Path, "c.db")}", $"file:{Path.Combine(Dir.Path, "blobs")}", [Videos]);
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Dir.Dispose();
    }
}

/// <summary>The real silo app in-process over real SQLite grain storage: authentication, validation, path traversal, ingestion, checkpoints.</summary>
public sealed class ApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private readonly TempDir _dir = fixture.Dir;
    private readonly InProcessSilo _silo = fixture.Silo;
    private readonly string _videos = fixture.Videos;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string? json = null, string? token = InProcessSilo.Token)
    {
        using var response = await _silo.Http.SendAsync(_silo.Request(method, path, json, token));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-token-0000000000")]
    [InlineData("")]
    public async Task Every_api_route_needs_the_token(string? token)
    {
        foreach (var (method, path) in new[] { (HttpMethod.Get, "api/cluster"), (HttpMethod.Post, "api/ingestion/jobs"), (HttpMethod.Get, "api/ingestion/jobs/x"), (HttpMethod.Get, "api/runs"), (HttpMethod.Get, "api/blobs?path=a"), (HttpMethod.Get, "api/events") })
        {
            var (status, body) = await SendAsync(method, path, method == HttpMethod.Post ? "{}" : null, token);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Contains("token", body);
        }
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "healthz", token: null)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "api/cluster")).Status);
    }

    [Theory]
    [InlineData("{\"videos\": [", "body")]
    [InlineData("not json", "body")]
    [InlineData("[1,2]", "body")]
    [InlineData("{}", "videos")]
    [InlineData("{\"videos\": \"a.mp4\"}", "videos")]
    [InlineData("{\"videos\": []}", "videos")]
    [InlineData("{\"videos\": [42]}", "videos[0]")]
    [InlineData("{\"videos\": [\"relative.mp4\"]}", "videos[0]")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\", \"VIDEOS/missing.mp4\"]}", "videos[1]")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\", \"file://VIDEOS/clip00.mp4\"]}", "videos[1]")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\"], \"dataset\": \"../up\"}", "dataset")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\"], \"pipeline\": \"nope\"}", "pipeline")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\"], \"maxAttempts\": 0}", "maxAttempts")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\"], \"priority\": 1}", "priority")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\"], \"parameters\": {\"seed\": \"1\"}}", "parameters")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\"], \"pipeline\": \"animate\", \"parameters\": {\"seed\": 1}}", "parameters")]
    [InlineData("{\"videos\": [\"VIDEOS/clip00.mp4\"], \"pipeline\": \"animate\"}", "parameters")]
    public async Task A_bad_submission_is_a_400_naming_the_field(string body, string field)
    {
        var jobs = (await _silo.Grains.GetGrain<ICatalogGrain>(Catalogs.IngestionJobs).List(1000)).Count;
        var (status, text) = await SendAsync(HttpMethod.Post, "api/ingestion/jobs", body.Replace("VIDEOS", _videos));
        Assert.True(status == HttpStatusCode.BadRequest, text);
        var error = JsonSerializer.Deserialize<ApiError>(text, Json)!;
        Assert.Equal(field, error.Field);
        Assert.False(string.IsNullOrWhiteSpace(error.Error));
        Assert.Equal(jobs, (await _silo.Grains.GetGrain<ICatalogGrain>(Catalogs.IngestionJobs).List(1000)).Count);
    }

    [Theory]
    [InlineData("VIDEOS/../../../etc/passwd")]
    [InlineData("VIDEOS/./clip00.mp4")]
    [InlineData("file://VIDEOS/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("file://VIDEOS/..%2f..%2fetc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("file:///etc/passwd")]
    [InlineData("file://otherhost/VIDEOS/clip00.mp4")]
    [InlineData("http://example.com/clip.mp4")]
    [InlineData("VIDEOS/escape.mp4")]
    public async Task Video_paths_outside_the_allowed_roots_or_with_traversal_are_refused(string uri)
    {
        // escape.mp4 is a link inside the root that points outside it.
        var link = Path.Combine(_videos, "escape.mp4");
        if (!File.Exists(link))
            File.CreateSymbolicLink(link, "/etc/hostname");
        var (status, text) = await SendAsync(HttpMethod.Post, "api/ingestion/jobs", JsonSerializer.Serialize(new { videos = new[] { uri.Replace("VIDEOS", _videos) } }));
        Assert.True(status == HttpStatusCode.BadRequest, text);
        Assert.Equal("videos[0]", JsonSerializer.Deserialize<ApiError>(text, Json)!.Field);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("datasets/../../x")]
    [InlineData("")]
    [InlineData(".gid-meta/x.sha256")]
    public async Task Blob_paths_with_traversal_are_refused(string path)
    {
        var (status, text) = await SendAsync(HttpMethod.Get, $"api/blobs?path={Uri.EscapeDataString(path)}");
        Assert.True(status == HttpStatusCode.BadRequest, text);
        Assert.Equal("path", JsonSerializer.Deserialize<ApiError>(text, Json)!.Field);
    }

    [Fact]
    public async Task An_ingestion_runs_to_a_manifest_with_each_video_once()
    {
        var videos = Directory.GetFiles(_videos, "clip*.mp4").Order().ToArray();
        var (status, text) = await SendAsync(HttpMethod.Post, "api/ingestion/jobs", JsonSerializer.Serialize(new { videos, dataset = "api-test" }));
        Assert.True(status == HttpStatusCode.Created, text);
        var job = JsonSerializer.Deserialize<JobView>(text, Json)!;
        Assert.Equal((3, "datasets/api-test", "frame-stats"), (job.Total, job.Dataset, job.Pipeline));
        await Waits.UntilAsync(async () =>
        {
            job = JsonSerializer.Deserialize<JobView>((await SendAsync(HttpMethod.Get, $"api/ingestion/jobs/{job.Id}")).Body, Json)!;
            return job.State is "succeeded" or "failed";
        }, TimeSpan.FromSeconds(90), () => $"job {job.State}, {job.Done}/{job.Total}");
        Assert.Equal("succeeded", job.State);
        Assert.All(job.Videos, v => Assert.Equal(("done", 1), (v.State, v.Attempts)));
        Assert.Equal([30L, 60L, 90L], job.Videos.Select(v => v.Rows ?? 0).Order());
        Assert.Equal(180, job.Rows);

        // The manifest lists each video once, and its recorded hash matches the downloaded bytes.
        using var response = await _silo.Http.SendAsync(_silo.Request(HttpMethod.Get, $"api/blobs?path={job.Manifest}"));
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(job.ManifestSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
        Assert.Equal(job.ManifestSha256, response.Headers.GetValues("X-Gid-Sha256").Single());
        using var manifest = JsonDocument.Parse(bytes);
        var ids = manifest.RootElement.GetProperty("videos").EnumerateArray().Select(v => v.GetProperty("video_id").GetString()).ToList();
        Assert.Equal(job.Videos.Select(v => v.Id).Order(StringComparer.Ordinal), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());

        // Frame count of each video by an independent decoder (ffprobe) equals its rows.
        foreach (var v in job.Videos)
        {
            var probe = Programs.Run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", v.Uri], TimeSpan.FromSeconds(30));
            Assert.Equal(v.Rows, long.Parse(probe.Stdout.Trim()));
        }

        var events = JsonSerializer.Deserialize<List<EventView>>((await SendAsync(HttpMethod.Get, $"api/events?job={job.Id}&limit=1000")).Body, Json)!;
        Assert.Equal(3, events.Count(e => e.Kind == "video.done"));
        Assert.Contains(events, e => e.Kind == "job.succeeded");
        var cluster = JsonSerializer.Deserialize<ClusterView>((await SendAsync(HttpMethod.Get, "api/cluster")).Body, Json)!;
        Assert.Contains(cluster.Silos, s => s.Id == _silo.Options.Id && s.Alive && s.Role == "all");
    }

    [Fact]
    public async Task Checkpoints_are_listed_and_pulled_with_sha256_verified_by_the_gid_client()
    {
        // A run and its checkpoint as the training launcher records them: files in the blob store, the run grain lists them.
        var blobs = _silo.App.Services.GetRequiredService<IBlobStore>();
        var run = _silo.Grains.GetGrain<ITrainingRunGrain>("run-a");
        await run.Create();
        foreach (var step in new[] { 10L, 20L })
        {
            var files = new List<CheckpointFileView>();
            foreach (var name in new[] { "model.pt", "optimizer.pt" })
            {
                var bytes = System.Text.Encoding.UTF8.GetBytes($"{name} at step {step} " + new string('x', 5000));
                var info = await blobs.PutAsync($"runs/run-a/step-{step}/{name}", new MemoryStream(bytes));
                files.Add(new CheckpointFileView(info.Path, info.Size, info.Sha256!));
            }
            await run.RecordCheckpoint(step, files);
        }
        var env = new Dictionary<string, string?> { ["GID_CLUSTER"] = _silo.Gateway, ["GID_BLOB"] = _silo.Options.Blob, ["GID_DATA"] = _dir.Path };
        ProgramResult Gid(params string[] args) => Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), .. args], TimeSpan.FromSeconds(60), environment: env);

        var runs = Gid("runs");
        Assert.True(runs.ExitCode == 0, runs.Combined);
        Assert.Contains("run-a", runs.Stdout);
        var list = Gid("checkpoints", "list", "run-a");
        Assert.True(list.ExitCode == 0, list.Combined);
        Assert.Contains("10", list.Stdout);
        Assert.Contains("20", list.Stdout);

        var outDir = Path.Combine(_dir.Path, "pulled");
        var pull = Gid("checkpoints", "pull", "run-a", "--step", "10", "--out", outDir);
        Assert.True(pull.ExitCode == 0, pull.Combined);
        Assert.StartsWith("model.pt at step 10 ", File.ReadAllText(Path.Combine(outDir, "model.pt")));

        // A blob changed behind the store's back is caught and not kept.
        var root = ((LocalBlobStore)blobs).Root;
        File.WriteAllText(Path.Combine(root, "runs/run-a/step-20/model.pt"), "tampered");
        var bad = Gid("checkpoints", "pull", "run-a", "--out", Path.Combine(_dir.Path, "bad"));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("sha256 mismatch", bad.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "bad", "model.pt")));

        var unknown = Gid("checkpoints", "list", "run-z");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no training run 'run-z'", unknown.Stderr);
        var nowhere = Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), "runs", "--cluster", $"127.0.0.1:{GidCluster.Grains.Work.FreePorts.Next()}"],
            TimeSpan.FromSeconds(60), environment: new Dictionary<string, string?> { ["GID_DATA"] = _dir.Path, ["GID_CLUSTER"] = null });
        Assert.Equal(2, nowhere.ExitCode);
        Assert.Contains("cannot reach the cluster's gateway", nowhere.Stderr);
    }
}
