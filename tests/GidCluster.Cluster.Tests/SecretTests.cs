using System.Net;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>The API token never appears in logs or responses, on success or failure.</summary>
public sealed class SecretTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Token_and_store_password_stay_out_of_logs_and_responses()
    {
        using var dir = Paths.NewTempDir("gid-secrets");
        var videos = Path.Combine(dir.Path, "videos");
        SyntheticVideos.Make(videos, 1, seconds: 1);
        File.WriteAllText(Path.Combine(videos, "broken.mp4"), "this is not a video");
        var storeUri = $"sqlite:{dir.Path}/c.db";
        var bodies = new List<string>();
        await using (var silo = await InProcessSilo.StartAsync(storeUri, $"file:{dir.Path}/blobs", [videos]))
        {
            async Task<string> Send(HttpMethod method, string path, string? json = null, string? token = InProcessSilo.Token)
            {
                using var response = await silo.Http.SendAsync(silo.Request(method, path, json, token));
                var body = await response.Content.ReadAsStringAsync();
                bodies.Add(string.Join('\n', response.Headers.Concat(response.Content.Headers).Select(h => $"{h.Key}: {string.Join(',', h.Value)}")) + "\n" + body);
                return body;
            }
            await Send(HttpMethod.Get, "api/cluster", token: null);
            await Send(HttpMethod.Get, "api/cluster", token: InProcessSilo.Token + "x");
            await Send(HttpMethod.Post, "api/ingestion/jobs", "{\"videos\": [");
            await Send(HttpMethod.Post, "api/ingestion/jobs", JsonSerializer.Serialize(new { videos = new[] { $"{videos}/../x.mp4" } }));
            var ok = JsonSerializer.Deserialize<JobView>(await Send(HttpMethod.Post, "api/ingestion/jobs", JsonSerializer.Serialize(new { videos = new[] { $"{videos}/clip00.mp4" } })), Json)!;
            var bad = JsonSerializer.Deserialize<JobView>(await Send(HttpMethod.Post, "api/ingestion/jobs", JsonSerializer.Serialize(new { videos = new[] { $"{videos}/broken.mp4" }, maxAttempts = 1 })), Json)!;
            foreach (var job in new[] { ok, bad })
            {
                await Waits.UntilAsync(async () => JsonSerializer.Deserialize<JobView>(await Send(HttpMethod.Get, $"api/ingestion/jobs/{job.Id}"), Json)!.State is "succeeded" or "failed",
                    TimeSpan.FromSeconds(60), () => $"job {job.Id} did not finish");
            }
            var failed = JsonSerializer.Deserialize<JobView>(await Send(HttpMethod.Get, $"api/ingestion/jobs/{bad.Id}"), Json)!;
            Assert.Equal("failed", failed.State);
            Assert.Contains("ffmpeg could not decode", failed.Error);
            var cluster = JsonSerializer.Deserialize<ClusterView>(await Send(HttpMethod.Get, "api/cluster"), Json)!;
            Assert.Equal("sqlite:c.db", cluster.Storage);
            await Send(HttpMethod.Get, "api/events?limit=1000");
            await Send(HttpMethod.Get, "api/runs");
            Assert.Contains("video.quarantined", string.Join('\n', bodies));
            Assert.NotEmpty(silo.Logs.Text);
            AssertClean(silo.Logs.Text, "silo log");
        }
        AssertClean(string.Join('\n', bodies), "responses");

        // A silo refused at start (here: a gateway off loopback) says why, without the token.
        var run = Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "GidCluster.Silo.dll"), "--role", "all", "--store", storeUri,
            "--blob", $"file:{dir.Path}/blobs", "--urls", "http://127.0.0.1:0", "--address", "0.0.0.0"], TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string?> { ["GID_TOKEN"] = InProcessSilo.Token });
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("needs TLS", run.Stderr);
        AssertClean(run.Combined, "silo output");
    }

    private static void AssertClean(string text, string where)
    {
        Assert.False(text.Contains(InProcessSilo.Token, StringComparison.Ordinal), $"the API token appears in the {where}");
    }
}
