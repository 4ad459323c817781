using System.Net.Http.Json;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Dataprep.Manifest;
using GidCluster.Grains.Ingestion;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>The <c>dataprep</c> pipeline on videos that yield no samples: each is recorded once with its reason, the job still completes.</summary>
public sealed class DataprepPipelineTests
{
    [Fact]
    public void Jobs_that_name_no_pipeline_run_dataprep_on_a_silo_started_with_defaults()
    {
        var options = GidCluster.Silo.Hosting.SiloOptions.Parse(["--role", "worker", "--store", "sqlite:/tmp/unused.db", "--blob", "file:/tmp/unused"]);
        Assert.Equal(GidCluster.Silo.Ingestion.DataprepPipeline.Name, options.DefaultPipeline);
    }

    [Fact]
    public async Task Videos_without_clips_or_unreadable_are_recorded_with_their_reason_not_retried()
    {
        using var dir = Paths.NewTempDir("gid-dataprep-pipeline");
        var videos = Path.Combine(dir.Path, "videos");
        var shortVideo = SyntheticVideos.Make(videos, 1, seconds: 2)[0]; // 60 frames: no clip of 150
        var text = Path.Combine(videos, "notes.mp4");
        File.WriteAllText(text, "this is not a video\n");
        await using var silo = await InProcessSilo.StartAsync($"sqlite:{dir.Path}/c.db", $"file:{dir.Path}/blobs", [videos]);

        using var request = silo.Request(HttpMethod.Post, "api/ingestion/jobs", JsonSerializer.Serialize(new SubmitIngestionRequest([shortVideo, text], "bad", "dataprep"), new JsonSerializerOptions(JsonSerializerDefaults.Web)));
        using var response = await silo.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        var job = JsonSerializer.Deserialize<JobView>(body, new JsonSerializerOptions(JsonSerializerDefaults.Web))!.Id;
        var view = await DrillTests.WaitForAsync(silo.Http, InProcessSilo.Token, job, TimeSpan.FromSeconds(60));
        Assert.Equal("succeeded", view.State);

        Assert.Equal(2, view.Videos.Count);
        Assert.All(view.Videos, v => Assert.Equal((VideoStates.Done, 1), (v.State, v.Attempts)));
        // The job result carries the (here empty) spectrum in the shape the dashboard plots.
        var spectrum = GidCluster.Silo.Dashboard.DashboardSpectrum.From(job, await silo.Grains.GetGrain<IIngestionJobGrain>(job).GetSpectrum());
        Assert.NotNull(spectrum);
        Assert.Equal(16, spectrum!.PowerX.Count);
        Assert.Equal(16 * 30.0 / 149, spectrum.FrequenciesHz![15] + 30.0 / 149, 9);

        var root = Path.Combine(dir.Path, "blobs", "datasets", "bad");
        var manifest = ManifestFile.Read(root);
        Assert.Empty(manifest.Shards);
        Assert.Null(manifest.Normalization);
        using var statuses = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "videos.json")));
        var byUri = statuses.RootElement.GetProperty("videos").EnumerateArray().ToDictionary(v => v.GetProperty("source_uri").GetString()!);
        Assert.Equal("no clips", byUri[shortVideo].GetProperty("status").GetString());
        Assert.Contains("a clip needs 150", byUri[shortVideo].GetProperty("reason").GetString());
        Assert.Equal("error", byUri[text].GetProperty("status").GetString());
        Assert.False(string.IsNullOrWhiteSpace(byUri[text].GetProperty("reason").GetString()));
    }
}
