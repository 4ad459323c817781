using System.Text.Json.Nodes;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// <c>gid demo --quick</c> end to end as a real process: corpus, embedded cluster, ingestion, the training chain through
/// the run grain on 2 ranks, the pulled model folder and the report.
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
        foreach (var stage in new[] { "vae", "ldm1", "ldm2" })
        {
            Assert.Equal("succeeded", (string?)report["training"]![stage]!["state"]);
            Assert.True(double.IsFinite((double)report["training"]![stage]!["final_loss"]!));
        }
        Assert.True(File.Exists(Path.Combine(output, "report.md")));
        Assert.True(new FileInfo(Path.Combine(output, "dataset-spectrum.png")).Length > 1000);
        foreach (var file in new[] { "model.json", "vae.pt", "ldm.pt" })
            Assert.True(File.Exists(Path.Combine(output, "model", file)), file);
        Assert.Equal("ldm2", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(output, "model", "model.json")))!["ldm_stage"]);
    }
}
