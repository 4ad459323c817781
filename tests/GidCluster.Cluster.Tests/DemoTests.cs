using System.Text.Json.Nodes;
using GidCluster.Grains.Work;
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
    public async Task Quick_demo_writes_the_report_the_spectrum_and_a_model_folder()
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

        await AnimateFromTheRunsAsync(output, (string)report["training"]!["ldm2"]!["run"]!, (string)report["training"]!["renderer"]!["run"]!);
    }

    /// <summary>
    /// The demo's cluster stays in its work folder: <c>gid up</c> on it serves the runs again, and <c>gid animate</c> takes
    /// the trained chain by run ids, locally and as a job on the cluster.
    /// </summary>
    private static async Task AnimateFromTheRunsAsync(string output, string ldm, string renderer)
    {
        var work = Path.Combine(output, "work");
        var heldout = Path.Combine(work, "corpus", "heldout");
        var env = new Dictionary<string, string> { ["GID_DATA"] = work };
        using var up = new SiloProcess("up", ["up", "--data", work, "--port", "0", "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{FreePorts.Next()}", "--allow", heldout],
            program: "gid.dll", environment: env);
        await up.ListeningAsync();
        var picture = Directory.GetFiles(heldout, "*.png").Order(StringComparer.Ordinal).First();
        ProgramResult Animate(params string[] args) => Programs.Run("dotnet", [Gid, "animate", .. args, "--steps", "2", "--seconds", "0.2"], TimeSpan.FromMinutes(4),
            environment: new Dictionary<string, string?> { ["GID_DATA"] = work, ["GID_CLUSTER"] = null, ["GID_BLOB"] = null });

        var alone = Animate(picture, "--model", ldm, "--out", Path.Combine(output, "runs", "x.mp4"));
        Assert.True(alone.ExitCode == 2, alone.Combined);
        Assert.Contains($"--model {ldm}: an ldm2 run's model folder needs a renderer; add --renderer RUN", alone.Stderr);

        var local = Animate(picture, "--model", ldm, "--renderer", renderer, "--out", Path.Combine(output, "runs", "local.mp4"));
        Assert.True(local.ExitCode == 0, local.Combined);
        Assert.Contains($"pulling run {ldm}", local.Stdout);
        var pulled = Directory.GetDirectories(Path.Combine(work, "models", ldm)).Single();
        foreach (var file in new[] { "vae.pt", "ldm.pt", "renderer.pt" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(output, "model", file)), File.ReadAllBytes(Path.Combine(pulled, file)));

        var job = Animate(heldout, "--model", ldm, "--renderer", renderer, "--out", Path.Combine(output, "runs", "cluster"), "--on-cluster");
        Assert.True(job.ExitCode == 0, job.Combined);
        Assert.Contains($"run {ldm} step", job.Stdout); // read from the cache this time
        var count = Directory.GetFiles(heldout, "*.png").Length;
        Assert.Contains($"{count} of {count} pictures animated on the cluster", job.Stdout);
        Assert.Equal(count, Directory.GetFiles(Path.Combine(output, "runs", "cluster"), "*.mp4").Length);
    }
}
