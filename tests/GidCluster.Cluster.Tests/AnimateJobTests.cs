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
        await using var c = await JobCluster.StartAsync("gid-animate-job", 4, badPicture: true);
        var (dir, pictures, model, cluster, gateway, http) = (c.Dir, c.Pictures, c.Model, c.Root, c.Gateway, c.Http);

        var output = Path.Combine(dir, "out");
        string[] settings = ["--steps", "2", "--seconds", "0.2", "--seed", "3"];
        var env = new Dictionary<string, string?> { ["GID_BLOB"] = $"file:{cluster}/blobs", ["GID_DATA"] = dir };
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
            "--out", Path.Combine(dir, "local", "c.mp4"), .. settings], TimeSpan.FromMinutes(2), environment: new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = "1" });
        Assert.True(local.ExitCode == 0, local.Combined);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "local", "c.xt.png")), File.ReadAllBytes(Path.Combine(output, "c.xt.png")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "local", "c.spectrum.png")), File.ReadAllBytes(Path.Combine(output, "c.spectrum.png")));
        var frames = Programs.Run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", Path.Combine(output, "a.mp4")]);
        Assert.Equal(6, int.Parse(frames.Stdout.Trim(), CultureInfo.InvariantCulture)); // 0.2 s at 30 fps

        // The model is in the blob store once: its files, under the key of their content.
        var blobs = new LocalBlobStore($"{cluster}/blobs");
        var stored = new List<BlobInfo>();
        await foreach (var b in blobs.ListAsync(ModelBlobs.Root + "/")) stored.Add(b);
        Assert.Equal(Directory.GetFiles(model).Length, stored.Count);

        foreach (var p in new[] { c.Coordinator, c.W1, c.W2 })
            Assert.DoesNotContain(DrillTests.Token, p.Output);
    }

    /// <summary>
    /// SIGTERM to a worker in the middle of a picture (as Kubernetes stops a pod): the silo drains, so the picture it is
    /// running finishes there, on its first attempt, before the silo leaves with exit code 0; the job completes.
    /// </summary>
    [Fact]
    public async Task A_worker_stopped_with_sigterm_finishes_its_picture_before_it_leaves()
    {
        await using var c = await JobCluster.StartAsync("gid-animate-drain", 4, badPicture: false);
        var (dir, pictures, model, cluster, gateway, http, w2) = (c.Dir, c.Pictures, c.Model, c.Root, c.Gateway, c.Http, c.W2);

        var running = w2.NextLineAsync("running ", TimeSpan.FromMinutes(2));
        var env = new Dictionary<string, string?> { ["GID_BLOB"] = $"file:{cluster}/blobs", ["GID_DATA"] = dir };
        var client = Task.Run(() => Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), "animate", pictures, "--model", model,
            "--out", Path.Combine(dir, "out"), "--on-cluster", "--cluster", $"127.0.0.1:{gateway}", "--steps", "2", "--seconds", "0.2"], TimeSpan.FromMinutes(4), environment: env));
        var line = await running;
        var victim = Regex.Match(line, @"running \S+/(\S+) attempt 1").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(victim), line);
        Assert.Equal(0, w2.Terminate(TimeSpan.FromSeconds(90)));
        Assert.Contains("draining: 1 running", w2.Output);
        Assert.Contains("drained in", w2.Output);

        var run = await client;
        Assert.True(run.ExitCode == 0, run.Combined + "\n--- w2\n" + w2.Output);
        Assert.Contains("4 of 4 pictures animated on the cluster", run.Stdout);
        var view = (await DrillTests.ViewAsync(http, JobId().Match(run.Stdout).Groups[1].Value))!;
        Assert.All(view.Videos, v => Assert.Equal(VideoStates.Done, v.State));
        var drained = view.Videos.Single(v => v.Id == victim);
        Assert.Equal(1, drained.Attempts);
        Assert.Contains($"{victim} done after 1 attempt(s)", w2.Output);
    }

    /// <summary>
    /// A coordinator and two one-slot worker silos (real processes, SQLite, a blob folder) under a temp folder, with
    /// <c>pictures/</c> (N test pictures, and optionally one that is not an image) as their allowed root and a tiny model.
    /// </summary>
    private sealed class JobCluster : IAsyncDisposable
    {
        private readonly TempDir _temp;

        private JobCluster(TempDir temp, SiloProcess coordinator, SiloProcess w1, SiloProcess w2, HttpClient http, int gateway) =>
            (_temp, Coordinator, W1, W2, Http, Gateway) = (temp, coordinator, w1, w2, http, gateway);

        public string Dir => _temp.Path;
        public string Pictures => System.IO.Path.Combine(Dir, "pictures");
        public string Model => System.IO.Path.Combine(Dir, "model");
        public string Root => System.IO.Path.Combine(Dir, "cluster");
        public SiloProcess Coordinator { get; }
        public SiloProcess W1 { get; }
        public SiloProcess W2 { get; }
        public HttpClient Http { get; }
        public int Gateway { get; }

        public static async Task<JobCluster> StartAsync(string name, int count, bool badPicture)
        {
            var temp = Paths.NewTempDir(name);
            var pictures = System.IO.Path.Combine(temp.Path, "pictures");
            Directory.CreateDirectory(pictures);
            var rgb = Enumerable.Range(0, 64 * 48 * 3).Select(i => (byte)(i * 7 % 251)).ToArray();
            for (var i = 0; i < count; i++)
                Picture.WriteImage(System.IO.Path.Combine(pictures, $"{(char)('a' + i)}.png"), 64, 48, rgb.Select(v => (byte)(v + 40 * i)).ToArray());
            if (badPicture)
                File.WriteAllText(System.IO.Path.Combine(pictures, $"{(char)('a' + count)}.png"), "not an image\n");
            UntrainedModelFolder.Write(System.IO.Path.Combine(temp.Path, "model"), ModelConfig.Load("tiny"), 64, 48, seed: 5);

            var (primary, gateway) = (FreePorts.Next(), FreePorts.Next());
            var root = System.IO.Path.Combine(temp.Path, "cluster");
            var coordinator = new SiloProcess("coord", DrillTests.SiloArgs("coordinator", root, pictures, primary, primary, gateway), DrillTests.Token);
            var w1 = new SiloProcess("w1", DrillTests.SiloArgs("worker", root, pictures, FreePorts.Next(), primary, gateway));
            var w2 = new SiloProcess("w2", DrillTests.SiloArgs("worker", root, pictures, FreePorts.Next(), primary, gateway));
            var cluster = new JobCluster(temp, coordinator, w1, w2, new HttpClient(), gateway);
            try
            {
                cluster.Http.BaseAddress = new Uri(await coordinator.ListeningAsync() + "/");
                await Task.WhenAll(w1.ListeningAsync(), w2.ListeningAsync());
                await Waits.UntilAsync(async () => (await DrillTests.ClusterAsync(cluster.Http)).Silos.Count(s => s.Alive && s.Role == "worker") == 2,
                    TimeSpan.FromSeconds(30), () => "two workers never joined");
                return cluster;
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        public ValueTask DisposeAsync()
        {
            Http.Dispose();
            foreach (var p in new[] { Coordinator, W1, W2 })
                p.Dispose();
            _temp.Dispose();
            return ValueTask.CompletedTask;
        }
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

    [GeneratedRegex(@"job (\S+): \d+ pictures")]
    private static partial Regex JobId();
}
