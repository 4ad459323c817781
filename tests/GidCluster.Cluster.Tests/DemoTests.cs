using System.Text.Json.Nodes;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// <c>gid demo --quick</c> end to end as a real process: corpus, embedded cluster, ingestion, the training chain through
/// the run grain on 2 ranks, the pulled model folder, the held-out animations and the report's measurement.
/// </summary>
public sealed class DemoTests
{
    private static readonly string Gid = Path.Combine(AppContext.BaseDirectory, "gid.dll");

    [Fact]
    public void Quick_demo_writes_the_report_the_spectrum_and_a_model_folder()
    {
        using var dir = Paths.NewTempDir("gid-demo");
        var output = Path.Combine(dir.Path, "out");
        var result = Programs.Run("dotnet", [Gid, "demo", "--quick", "--out", output, "--seed", "300"], TimeSpan.FromMinutes(25),
            environment: new Dictionary<string, string?> { ["GID_CLUSTER"] = null, ["GID_BLOB"] = null });
        Assert.True(result.ExitCode == 0, result.Combined);
        Assert.Contains("/dashboard", result.Stdout);
        Assert.Contains("/orleans/", result.Stdout);

        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "report.json")))!.AsObject();
        Assert.Equal("quick", (string?)report["mode"]);
        Assert.True((long)report["dataset"]!["samples"]! >= 3);
        var accuracy = (double)report["dataprep_dominant_bin_accuracy"]!;
        Assert.InRange(accuracy, 0.5, 1.0);
        foreach (var stage in new[] { "vae", "ldm1", "ldm2", "renderer" })
        {
            Assert.Equal("succeeded", (string?)report["training"]![stage]!["state"]);
            Assert.True(double.IsFinite((double)report["training"]![stage]!["final_loss"]!));
        }
        Assert.True(File.Exists(Path.Combine(output, "report.md")));
        Assert.True(new FileInfo(Path.Combine(output, "dataset-spectrum.png")).Length > 1000);
        foreach (var file in new[] { "model.json", "vae.pt", "ldm.pt", "renderer.pt" })
            Assert.True(File.Exists(Path.Combine(output, "model", file)), file);
        // Every figure of the measurement is there and finite (their quality needs the full run's budget).
        foreach (var key in new[] { "dominant_bin_accuracy", "baseline_dominant_bin_accuracy", "amplitude_rel_error", "baseline_amplitude_rel_error",
                     "vae_reconstruction_error", "loop_error_unguided", "loop_error_guided", "loop_error_ratio", "render_psnr_db" })
            Assert.True(report[key] is JsonValue v && double.IsFinite((double)v), $"{key}: {report[key]?.ToJsonString() ?? "missing"}");
        Assert.Equal(8, (int)report["objects_scored"]!); // 2 held-out pictures × 4 objects
        foreach (var picture in Directory.GetFiles(Path.Combine(output, "work", "corpus", "heldout"), "heldout_*.json").Select(Path.GetFileNameWithoutExtension))
        {
            foreach (var suffix in new[] { ".mp4", ".xt.png", ".loop.mp4", ".loop.xt.png", ".spectrum.png", ".spectra.png" })
                Assert.True(new FileInfo(Path.Combine(output, picture + suffix)).Length > 500, picture + suffix);
        }
        Assert.Equal("ldm2", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(output, "model", "model.json")))!["ldm_stage"]);
    }
}
