using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using GidCluster.Cluster.Tests;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace GidCluster.Dashboard.Tests;

/// <summary>
/// One real silo (role all, SQLite, local blobs) with synthetic videos under its allowed root, one
/// file that is not a video (so a grain really gets quarantined), a finished dataprep job (one clip)
/// whose result carries its spectrum, and two training runs as the launcher would record them.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    public TempDir Dir { get; } = Paths.NewTempDir("gid-dash");
    public InProcessSilo Silo { get; private set; } = null!;
    public IReadOnlyList<string> Videos { get; private set; } = [];
    public JobSpectrum Spectrum { get; private set; } = null!;

    public IGrainFactory Grains => Silo.Grains;

    public async Task InitializeAsync()
    {
        var dir = Path.Combine(Dir.Path, "videos");
        var videos = SyntheticVideos.Make(dir, 6, seconds: 3).ToList();
        // Last in the list (and by name), so the job runs through the real videos before it fails on this one.
        var broken = Path.Combine(dir, "zz-not-a-video.mp4");
        await File.WriteAllTextAsync(broken, "this is not a video");
        videos.Add(broken);
        Videos = videos;
        Silo = await InProcessSilo.StartAsync($"sqlite:{Path.Combine(Dir.Path, "c.db")}", $"file:{Path.Combine(Dir.Path, "blobs")}", [dir]);

        // A real dataprep job (one 6 s video, one clip) under a known id: its merge result carries the spectrum.
        Environment.SetEnvironmentVariable(GidCluster.Silo.Ingestion.DataprepPipeline.MaxClipsVariable, "1");
        var six = SyntheticVideos.Make(Path.Combine(dir, "six"), 1, seconds: 6)[0];
        var spectrumJob = Grains.GetGrain<IIngestionJobGrain>("spectrum-fixture");
        await spectrumJob.Submit(new SubmitIngestionRequest([six], "spectrum-fixture", "dataprep"));
        await Waits.UntilAsync(async () => (await spectrumJob.GetView(false))!.State == JobStates.Succeeded, TimeSpan.FromMinutes(3), () => "the dataprep job did not succeed");
        Spectrum = (await spectrumJob.GetSpectrum())!;
        // A finished job whose pipeline measures no spectrum (frame-stats).
        var plain = Grains.GetGrain<IIngestionJobGrain>("no-spectrum");
        await plain.Submit(new SubmitIngestionRequest([videos[0]], "no-spectrum", "frame-stats"));
        await Waits.UntilAsync(async () => (await plain.GetView(false))!.State == JobStates.Succeeded, TimeSpan.FromMinutes(1), () => "the frame-stats job did not succeed");

        var metrics = Grains.GetGrain<ITrainingRunGrain>("run-metrics");
        await metrics.Create();
        await Grains.GetGrain<ITrainingRunGrain>("run-quiet").Create();
        var blobs = Silo.App.Services.GetRequiredService<IBlobStore>();
        for (var i = 0; i < 20; i++)
        {
            await metrics.RecordMetrics(i, 2.0 * Math.Exp(-i / 6.0) + 0.05, 3.5 + i % 3 * 0.1);
            await Task.Delay(30); // samples at distinct times, as a trainer's would be
        }
        foreach (var step in new[] { 100L, 200L })
        {
            var info = await blobs.PutAsync($"runs/run-metrics/step-{step}/model.pt", new MemoryStream(new byte[4096 + (int)step]));
            await metrics.RecordCheckpoint(step, [new CheckpointFileView(info.Path, info.Size, info.Sha256!)]);
        }
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Dir.Dispose();
    }
}

public sealed class DashboardTests(DashboardFixture fixture) : IClassFixture<DashboardFixture>
{
    private readonly InProcessSilo _silo = fixture.Silo;

    private async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> GetAsync(string path, string? token = InProcessSilo.Token, string? prefix = null)
    {
        var request = _silo.Request(HttpMethod.Get, path, token: token);
        if (prefix != null)
            request.Headers.Add("X-Forwarded-Prefix", prefix);
        var response = await _silo.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    [Fact]
    public async Task In_chromium_it_refuses_without_the_token_then_shows_a_running_job_whose_counts_change()
    {
        using var userData = Paths.NewTempDir("gid-chromium");
        var shots = Path.Combine(Paths.Repo, "build", "test-artifacts");
        Directory.CreateDirectory(shots);
        var run = Programs.Run("node", [Path.Combine(Paths.Repo, "tests", "GidCluster.Dashboard.Tests", "dashboard.cjs")], TimeSpan.FromMinutes(6),
            workingDirectory: Path.Combine(Paths.Repo, "tests", "js"),
            environment: new Dictionary<string, string?>
            {
                ["GID_URL"] = _silo.Url,
                ["GID_DASH_TOKEN"] = InProcessSilo.Token,
                ["GID_VIDEOS"] = JsonSerializer.Serialize(fixture.Videos),
                ["GID_SHOTS"] = shots,
                ["GID_USER_DATA"] = userData.Path,
            });
        var line = run.Stdout.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        Assert.True(line != null && run.ExitCode == 0, $"exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}\n{_silo.Logs.Text[^Math.Min(4000, _silo.Logs.Text.Length)..]}");
        var r = JsonDocument.Parse(line["RESULT ".Length..]).RootElement;

        // Refused without (or with a wrong) token: no data on the page, the data route answers 401.
        Assert.True(r.GetProperty("dashboardHiddenWithoutToken").GetBoolean());
        Assert.Equal(0, r.GetProperty("jobRowsWithoutToken").GetInt32());
        Assert.Equal(401, r.GetProperty("unauthorizedStatus").GetInt32());
        Assert.True(r.GetProperty("dashboardHiddenWithWrongToken").GetBoolean());
        Assert.Equal(401, r.GetProperty("orleansStatusWithoutToken").GetInt32());
        Assert.Equal(401, r.GetProperty("orleansCountersStatusWithoutToken").GetInt32());

        // Orleans' dashboard, opened from ours after signing in, during the job: the silo, and video grains with activations.
        Assert.Equal("orleans/", r.GetProperty("orleansLink").GetString());
        Assert.Equal(200, r.GetProperty("orleansStatus").GetInt32());
        Assert.True(r.GetProperty("orleansSilos").GetInt32() >= 1);
        Assert.True(r.GetProperty("orleansVideoActivations").GetInt32() >= 1);
        Assert.True(r.GetProperty("orleansPageShowsVideoGrain").GetBoolean());
        Assert.Contains("refused", r.GetProperty("wrongTokenMessage").GetString());

        // With it: the job was seen running, then with more videos done, then finished with every video accounted for.
        var first = r.GetProperty("firstSeen");
        var later = r.GetProperty("laterSeen");
        var final = r.GetProperty("final");
        Assert.Equal("running", first.GetProperty("state").GetString());
        Assert.True(later.GetProperty("done").GetInt32() > first.GetProperty("done").GetInt32());
        Assert.Equal(fixture.Videos.Count, final.GetProperty("videos").GetInt32());
        // The cluster fails a job whose video is quarantined (here: the file that is not a video).
        Assert.Equal("failed", final.GetProperty("state").GetString());
        Assert.Equal(fixture.Videos.Count - 1, final.GetProperty("done").GetInt32());
        Assert.Equal("live", r.GetProperty("connection").GetString());
        Assert.True(r.GetProperty("siloRows").GetInt32() >= 1);

        // The page agrees with the grains, and shows the quarantined video with its error.
        var job = r.GetProperty("job").GetString()!;
        var view = (await fixture.Grains.GetGrain<IIngestionJobGrain>(job).GetView(withVideos: true))!;
        Assert.Equal(view.Videos.Count(v => v.State == VideoStates.Done), final.GetProperty("done").GetInt32());
        var quarantined = Assert.Single(view.Videos, v => v.State == VideoStates.Quarantined);
        var row = Assert.Single(r.GetProperty("quarantinedRows").EnumerateArray()).GetString()!;
        Assert.Contains(quarantined.Id, row);
        Assert.Contains(quarantined.Error!, row);

        // Training: a loss curve where the store has samples, the honest sentence where it has none; checkpoints listed.
        Assert.Equal(1, r.GetProperty("lossCurves").GetInt32());
        Assert.Contains("run-quiet", r.GetProperty("runsText").GetString());
        Assert.Contains("no training metrics yet", r.GetProperty("runsText").GetString());
        Assert.Equal(2, r.GetProperty("checkpointRows").GetInt32());
        Assert.Equal(fixture.Spectrum.PowerX.Count, r.GetProperty("spectrumPoints").GetInt32());

        // Behind the /gid prefix every request stayed under it, and the token was never in a URL or the page.
        var proxied = r.GetProperty("proxiedPaths").EnumerateArray().Select(p => p.GetString()!).ToList();
        Assert.Contains("/gid/api/dashboard/snapshot", proxied);
        Assert.Contains("/gid/api/dashboard/stream", proxied);
        Assert.All(proxied, p => Assert.StartsWith("/gid/", p));
        Assert.EndsWith("/gid/", r.GetProperty("baseHref").GetString());
        Assert.All(r.GetProperty("requestUrls").EnumerateArray(), u => Assert.DoesNotContain(InProcessSilo.Token, u.GetString()));
        Assert.False(r.GetProperty("htmlHasToken").GetBoolean());
        Assert.True(new FileInfo(Path.Combine(shots, "dashboard.png")).Length > 10_000);
        Assert.DoesNotContain(InProcessSilo.Token, _silo.Logs.Text);
    }

    [Fact]
    public async Task The_page_follows_the_forwarded_prefix_and_uses_only_relative_urls()
    {
        var (status, html, response) = await GetAsync("dashboard", token: null, prefix: "/gid/");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("<base href=\"/gid/\">", html);
        Assert.Contains("script-src 'nonce-", string.Join(' ', response.Headers.GetValues("Content-Security-Policy")));
        // Every fetch target and link in the page is relative (resolved against the base), never rooted or absolute.
        var targets = Regex.Matches(html, "fetch\\(\"([^\"]*)\"|(?:href|src|action)=\"([^\"]*)\"").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value).ToList();
        Assert.Contains("api/dashboard/stream", targets);
        Assert.All(targets.Where(t => t != "{{BASE}}" && t != "/gid/"), t => Assert.DoesNotMatch("^(/|[a-z]+:)", t));

        Assert.Contains("<base href=\"/\">", (await GetAsync("dashboard", token: null)).Body);
        // A header that is not a plain path is ignored, not echoed into the page.
        var (_, hostile, _) = await GetAsync("dashboard", token: null, prefix: "/x\"><script>alert(1)</script>");
        Assert.Contains("<base href=\"/\">", hostile);
        Assert.DoesNotContain("alert(1)", hostile);
    }

    [Fact]
    public async Task Data_routes_need_the_token()
    {
        foreach (var path in new[] { "api/dashboard/snapshot", "api/dashboard/stream", "api/dashboard/spectrum?job=spectrum-fixture", "api/prometheus" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(path, token: null)).Status);
            Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(path, token: "wrong-token-0000000000")).Status);
        }
    }

    [Fact]
    public async Task The_spectrum_endpoint_returns_the_jobs_bins_or_says_there_is_none()
    {
        var (status, body, _) = await GetAsync("api/dashboard/spectrum?job=spectrum-fixture");
        Assert.Equal(HttpStatusCode.OK, status);
        var s = JsonDocument.Parse(body).RootElement;
        Assert.Equal(fixture.Spectrum.PowerX, s.GetProperty("powerX").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal(fixture.Spectrum.PowerY, s.GetProperty("powerY").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal(16, fixture.Spectrum.PowerX.Count);
        var (missing, text, _) = await GetAsync("api/dashboard/spectrum?job=no-spectrum");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Contains("no spectrum yet", text);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("api/dashboard/spectrum?job=nope")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("api/dashboard/spectrum")).Status);
    }

    [Fact]
    public async Task Prometheus_text_parses_and_matches_the_grains()
    {
        // Wait for quiet (no running ingestion), then past the snapshot cache, so grains and export describe the same moment.
        async Task<List<JobView>> JobsAsync()
        {
            var views = new List<JobView>();
            foreach (var id in await fixture.Grains.GetGrain<ICatalogGrain>(Catalogs.IngestionJobs).List(100))
                views.Add((await fixture.Grains.GetGrain<IIngestionJobGrain>(id).GetView(withVideos: false))!);
            return views;
        }
        await Waits.UntilAsync(async () => (await JobsAsync()).All(j => j.State is JobStates.Succeeded or JobStates.Failed),
            TimeSpan.FromMinutes(3), () => "ingestion still running");
        await Task.Delay(1200);
        var (status, text, response) = await GetAsync("api/prometheus");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType);

        // The exposition format: HELP/TYPE comments, then `name{label="value",...} number` lines of declared families.
        var types = new Dictionary<string, string>();
        var samples = new List<(string Name, Dictionary<string, string> Labels, double Value)>();
        var sampleLine = new Regex("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? ([^ ]+)$");
        var labelPair = new Regex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"(?:,|$)");
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.Equal(4, parts.Length);
                Assert.True(types.TryAdd(parts[2], parts[3]), $"TYPE repeated: {line}");
                continue;
            }
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
                continue;
            var m = sampleLine.Match(line);
            Assert.True(m.Success, $"not a sample line: {line}");
            Assert.True(types.ContainsKey(m.Groups[1].Value), $"sample before its TYPE: {line}");
            var labels = labelPair.Matches(m.Groups[2].Value).ToDictionary(p => p.Groups[1].Value, p => p.Groups[2].Value);
            Assert.True(double.TryParse(m.Groups[3].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value), line);
            samples.Add((m.Groups[1].Value, labels, value));
        }

        double One(string name, params (string, string)[] labels) =>
            Assert.Single(samples, s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Item1) == l.Item2)).Value;
        Assert.Equal(1, One("gid_silo_up", ("silo", _silo.Options.Id)));
        Assert.True(One("gid_silo_working_set_bytes", ("silo", _silo.Options.Id)) > 10e6);

        var jobs = await JobsAsync();
        Assert.Equal(jobs.Sum(j => j.Pending), One("gid_grains", ("state", VideoStates.Pending)));
        Assert.Equal(jobs.Sum(j => j.Running), One("gid_grains", ("state", VideoStates.Running)));
        Assert.Equal(jobs.Sum(j => j.Done), One("gid_grains", ("state", VideoStates.Done)));
        Assert.Equal(jobs.Sum(j => j.Quarantined), One("gid_grains", ("state", VideoStates.Quarantined)));
        Assert.Equal(2, One("gid_training_checkpoints", ("run", "run-metrics")));
        Assert.Equal(2.0 * Math.Exp(-19 / 6.0) + 0.05, One("gid_training_loss", ("run", "run-metrics")), 9);
        Assert.DoesNotContain(samples, s => s.Name == "gid_training_loss" && s.Labels["run"] == "run-quiet");
        Assert.Equal(2, One("gid_jobs", ("kind", "training"), ("state", "running")));
    }

    [Fact]
    public async Task Watchers_share_one_cached_snapshot_and_the_stream_pushes_fresh_ones()
    {
        static long At(string json) => JsonDocument.Parse(json).RootElement.GetProperty("generatedAt").GetInt64();
        // Two readers within the cache age get the same snapshot (one store pass); a later one gets a new one.
        var a = At((await GetAsync("api/dashboard/snapshot")).Body);
        var b = At((await GetAsync("api/dashboard/snapshot")).Body);
        Assert.Equal(a, b);
        await Task.Delay(1300);
        Assert.True(At((await GetAsync("api/dashboard/snapshot")).Body) > a);

        // The SSE stream: event blocks with a JSON snapshot each, newer ones as time passes.
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await _silo.Http.SendAsync(_silo.Request(HttpMethod.Get, "api/dashboard/stream"), HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
        var times = new List<long>();
        while (times.Count < 2)
        {
            var line = await reader.ReadLineAsync(cancel.Token) ?? throw new InvalidOperationException("stream ended");
            if (line.StartsWith("data: ", StringComparison.Ordinal))
                times.Add(At(line["data: ".Length..]));
        }
        Assert.True(times[1] > times[0]);
    }

    [Fact]
    public async Task No_secret_reaches_the_page_the_json_the_metrics_or_the_logs()
    {
        var bodies = new List<string>();
        foreach (var path in new[] { "dashboard", "api/dashboard/snapshot", "api/prometheus", "api/dashboard/spectrum?job=spectrum-fixture" })
        {
            var (status, body, _) = await GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, status);
            bodies.Add(body);
        }
        var snapshot = JsonDocument.Parse(bodies[1]).RootElement;
        Assert.Equal(_silo.Options.Id, Assert.Single(snapshot.GetProperty("silos").EnumerateArray(), s => s.GetProperty("id").GetString() == _silo.Options.Id).GetProperty("id").GetString());
        foreach (var body in bodies.Append(_silo.Logs.Text))
            Assert.DoesNotContain(InProcessSilo.Token, body);
    }
}
