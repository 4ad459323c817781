using System.Globalization;
using System.Text.RegularExpressions;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Work;
using GidCluster.Inference.Models;
using GidCluster.Inference.Rendering;
using GidCluster.TestSupport;
using GidCluster.Training.Models;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// <c>gid animate DIR --on-cluster</c> against real processes: a coordinator and two worker silos (SQLite, one blob
/// folder) and the <c>gid</c> client. The pictures become one grain each, spread over both workers; a picture that
/// cannot be read is quarantined with its error while the others are delivered; what comes back is what a local
/// <c>gid animate</c> with the same settings makes.
/// </summary>
public sealed partial class AnimateJobTests
{
    [Fact]
    public async Task Pictures_fan_out_over_the_worker_silos_and_come_back_as_a_local_run_makes_them()
    {
        using var dir = Paths.NewTempDir("gid-animate-job");
        var pictures = Path.Combine(dir.Path, "pictures");
        Directory.CreateDirectory(pictures);
        var rgb = Enumerable.Range(0, 64 * 48 * 3).Select(i => (byte)(i * 7 % 251)).ToArray();
        foreach (var (name, shift) in new[] { ("a", 0), ("b", 40), ("c", 90), ("d", 130) })
            Picture.WriteImage(Path.Combine(pictures, name + ".png"), 64, 48, rgb.Select(v => (byte)(v + shift)).ToArray());
        File.WriteAllText(Path.Combine(pictures, "e.png"), "not an image\n");
        var model = Path.Combine(dir.Path, "model");
        UntrainedModelFolder.Write(model, ModelConfig.Load("tiny"), 64, 48, seed: 5);

        var (primary, gateway) = (FreePorts.Next(), FreePorts.Next());
        var cluster = Path.Combine(dir.Path, "cluster");
        using var coordinator = new SiloProcess("coord", DrillTests.SiloArgs("coordinator", cluster, pictures, primary, primary, gateway), DrillTests.Token);
        var url = await coordinator.ListeningAsync();
        using var w1 = new SiloProcess("w1", DrillTests.SiloArgs("worker", cluster, pictures, FreePorts.Next(), primary, gateway));
        using var w2 = new SiloProcess("w2", DrillTests.SiloArgs("worker", cluster, pictures, FreePorts.Next(), primary, gateway));
        await Task.WhenAll(w1.ListeningAsync(), w2.ListeningAsync());
        using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
        await Waits.UntilAsync(async () => (await DrillTests.ClusterAsync(http)).Silos.Count(s => s.Alive && s.Role == "worker") == 2, TimeSpan.FromSeconds(30), () => "two workers never joined");

        var output = Path.Combine(dir.Path, "out");
        string[] settings = ["--steps", "2", "--seconds", "0.2", "--seed", "3"];
        var env = new Dictionary<string, string?> { ["GID_BLOB"] = $"file:{cluster}/blobs", ["GID_DATA"] = dir.Path };
        var run = Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), "animate", pictures, "--model", model, "--out", output,
            "--on-cluster", "--cluster", $"127.0.0.1:{gateway}", .. settings], TimeSpan.FromMinutes(4), environment: env);

        // The unreadable picture fails alone, named with its error; the others arrive.
        Assert.True(run.ExitCode == 2, run.Combined);
        Assert.Contains($"gid animate: {Path.Combine(pictures, "e.png")}:", run.Stderr);
        Assert.Contains("could not be read", run.Stderr);
        Assert.Contains("4 of 5 pictures animated on the cluster", run.Stdout);
        Assert.Equal(["a.mp4", "a.spectrum.png", "a.xt.png", "b.mp4", "b.spectrum.png", "b.xt.png", "c.mp4", "c.spectrum.png", "c.xt.png", "d.mp4", "d.spectrum.png", "d.xt.png"],
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Matches(@"model stored at models/[0-9a-f]{16}/", run.Stdout);

        // One grain per picture, and both workers had some of them.
        var job = JobId().Match(run.Stdout).Groups[1].Value;
        var view = (await DrillTests.ViewAsync(http, job))!;
        Assert.Equal(("succeeded", 4, 1), (view.State, view.Done, view.Quarantined));
        Assert.StartsWith("animations/", view.Dataset);
        Assert.Equal(2, view.Videos.Where(v => v.State == VideoStates.Done).Select(v => v.Silo).Distinct().Count());
        Assert.Equal(3, view.QuarantinedVideos.Single().Attempts);

        // The same picture and settings on this machine, with the one torch thread a work slot gives, make the same files.
        var local = Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), "animate", Path.Combine(pictures, "c.png"), "--model", model,
            "--out", Path.Combine(dir.Path, "local", "c.mp4"), .. settings], TimeSpan.FromMinutes(2), environment: new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = "1" });
        Assert.True(local.ExitCode == 0, local.Combined);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "local", "c.xt.png")), File.ReadAllBytes(Path.Combine(output, "c.xt.png")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "local", "c.spectrum.png")), File.ReadAllBytes(Path.Combine(output, "c.spectrum.png")));
        var frames = Programs.Run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", Path.Combine(output, "a.mp4")]);
        Assert.Equal(6, int.Parse(frames.Stdout.Trim(), CultureInfo.InvariantCulture)); // 0.2 s at 30 fps

        // The model is in the blob store once: its files, under the key of their content.
        var blobs = new LocalBlobStore($"{cluster}/blobs");
        var stored = new List<BlobInfo>();
        await foreach (var b in blobs.ListAsync(ModelBlobs.Root + "/")) stored.Add(b);
        Assert.Equal(Directory.GetFiles(model).Length, stored.Count);

        foreach (var p in new[] { coordinator, w1, w2 })
            Assert.DoesNotContain(DrillTests.Token, p.Output);
    }

    [Fact]
    public void Settings_the_pipeline_does_not_take_are_refused_at_submission()
    {
        Assert.Null(Silo.Ingestion.AnimatePipeline.Check(new Dictionary<string, string> { ["model"] = "models/0123456789abcdef", ["seconds"] = "1.5", ["loop"] = "true", ["seed"] = "-4" }));
        Assert.Contains("needs parameters.model", Silo.Ingestion.AnimatePipeline.Check(new Dictionary<string, string>()));
        Assert.Contains("is not a stored model", Silo.Ingestion.AnimatePipeline.Check(new Dictionary<string, string> { ["model"] = "/etc" }));
        Assert.Contains("parameters.bogus is not a setting", Silo.Ingestion.AnimatePipeline.Check(new Dictionary<string, string> { ["model"] = "models/0123456789abcdef", ["bogus"] = "1" }));
        Assert.Contains("parameters.steps 'many'", Silo.Ingestion.AnimatePipeline.Check(new Dictionary<string, string> { ["model"] = "models/0123456789abcdef", ["steps"] = "many" }));
    }

    [GeneratedRegex(@"job (\S+): 5 pictures")]
    private static partial Regex JobId();
}
