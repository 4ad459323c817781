using System.CommandLine;
using System.Security.Cryptography;
using GidCluster.Contracts;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Plots;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.Dataprep.Statistics;
using GidCluster.Dataprep.Synthetic;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Work;
using GidCluster.Silo.Hosting;
using Microsoft.Extensions.Logging;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid demo</c>: the main job on the embedded default, as far as the pipeline exists. It makes
/// synthetic videos whose motion is known, ingests them on an embedded cluster (one Orleans silo,
/// grain state and reminders in SQLite, local blobs) with the dataprep pipeline, and checks what came out against the truth.
/// Every figure it prints is computed in this run.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "Working folder (default: build/demo in the checkout; emptied first)." };
        var videos = new Option<int>("--videos") { Description = "Synthetic videos to ingest.", DefaultValueFactory = _ => 3 };
        var command = new Command("demo", "Run the main job on the embedded default: synthetic videos → embedded cluster → dataprep → shards, manifest, spectrum.")
        {
            dir, videos,
        };
        command.SetAction((parse, cancel) => Cli.RunAsync("demo", () =>
            RunAsync(parse.GetValue(dir) ?? Path.Combine(RepoPaths.Root(), "build", "demo"), Math.Clamp(parse.GetValue(videos), 1, 20), cancel)));
        return command;
    }

    private static async Task<int> RunAsync(string dir, int count, CancellationToken cancel)
    {
        dir = Path.GetFullPath(dir);
        if (Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
        var videoDir = Directory.CreateDirectory(Path.Combine(dir, "videos")).FullName;

        Console.WriteLine($"GidCluster demo: embedded default (one Orleans silo, SQLite grain state, local blobs) in {dir}");
        Console.WriteLine();
        Console.WriteLine($"1. Synthesizing {count} videos with known motion (256×160, 160 frames at 30 fps)");
        var scenes = new Dictionary<string, SyntheticScene>();
        for (var i = 0; i < count; i++)
        {
            var scene = SyntheticScene.Random(seed: 100 + i, frames: 160);
            var path = Path.Combine(videoDir, $"synthetic-{i + 1:D2}.mp4");
            SyntheticVideo.Write(scene, path);
            scenes[path] = scene;
            Console.WriteLine($"   {Path.GetFileName(path)}: {scene.Regions.Count} oscillating regions, true bins {string.Join(",", TrueBins(scene))}");
        }

        Console.WriteLine();
        Console.WriteLine("2. Starting the embedded cluster (one Orleans silo, both roles) and submitting the ingestion job");
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var options = new SiloOptions
        {
            Role = SiloRoles.All,
            Id = "gid-demo",
            Store = $"sqlite:{Path.Combine(dir, "cluster.db")}",
            Blob = $"file:{Path.Combine(dir, "blobs")}",
            Urls = "http://127.0.0.1:0",
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
            Token = token,
            AllowedRoots = [videoDir],
        }.Validate();
        var app = SiloHost.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await SiloHost.StartAsync(app, cancel);
        JobView job;
        try
        {
            var url = SiloHost.Address(app);
            Console.WriteLine($"   silo at {url} (dashboard: {url}/dashboard), gateway {SiloHost.Gateway(options)}");
            // Through the gateway, as `gid ingest` does.
            await using var client = await ClusterClient.ConnectAsync(SiloHost.Gateway(options), cancel);
            var grain = client.Grains.GetGrain<IIngestionJobGrain>(IngestionJobs.NewJobId(DateTimeOffset.UtcNow));
            job = await grain.Submit(new SubmitIngestionRequest([.. scenes.Keys], "demo", "dataprep"));
            job = await IngestCommand.FollowAsync(grain, job, cancel);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
        if (job.State != "succeeded" || job.Manifest is null)
        {
            Console.Error.WriteLine($"demo: the ingestion job ended {job.State}: {job.Error}");
            return 1;
        }

        Console.WriteLine();
        Console.WriteLine("3. What the job wrote");
        var manifestPath = Path.Combine(dir, "blobs", job.Manifest);
        var manifest = ManifestFile.Read(manifestPath);
        ManifestFile.Verify(manifestPath, manifest);
        Console.WriteLine($"   {job.Manifest}: {manifest.Shards.Count} shard(s), {manifest.TotalRows} samples, sha256 of every shard verified");
        if (manifest.Normalization is { } norm)
            Console.WriteLine($"   normalization scales s_k (95th percentile of |S| per bin): {string.Join(" ", norm.Scales.Select(s => s.ToString("G3")))}");

        Console.WriteLine();
        Console.WriteLine("4. Recovered motion against the truth (bins with the most power, DC excluded)");
        var samples = manifest.Shards
            .SelectMany(s => { using var r = ShardReader.Open(ManifestFile.ShardPath(manifestPath, s)); return r.ReadAll().ToList(); })
            .ToList();
        var spectrum = new PowerSpectrum();
        foreach (var s in samples)
            spectrum.Write(s);
        var matched = 0;
        foreach (var video in job.Videos.OrderBy(v => v.Id, StringComparer.Ordinal))
        {
            var scene = scenes[video.Uri];
            var truth = TrueBins(scene);
            var own = samples.Where(s => s.VideoId == video.Id).ToList();
            var recovered = StrongestBins(own, truth.Count);
            var hit = truth.Intersect(recovered).Count();
            matched += hit;
            Console.WriteLine($"   {video.Id}: {own.Count} samples; true bins {string.Join(",", truth)}; strongest recovered bins {string.Join(",", recovered)} ({hit}/{truth.Count} match)");
        }

        var png = Path.Combine(dir, "spectrum.png");
        SpectrumPlot.Write(spectrum, "demo: average motion power per frequency bin", png);
        Console.WriteLine();
        Console.WriteLine($"5. Power spectrum per frequency bin (the paper's Fig. 2, left): {png}");
        Console.WriteLine($"   inspect the data: ./gid inspect {manifestPath}");
        Console.WriteLine();
        Console.WriteLine("Not built yet, so not run: training (VAE, latent diffusion stages 1 and 2, renderer) and inference");
        Console.WriteLine("(DDIM sampling, seamless loops, slow motion, magnification, interactive dynamics).");
        return matched > 0 ? 0 : 1;
    }

    /// <summary>The DFT bins (k = f·N/fps, N = 149) at which the scene's regions truly oscillate.</summary>
    private static List<int> TrueBins(SyntheticScene scene) =>
        scene.Regions.SelectMany(r => r.X.Concat(r.Y))
            .Select(o => (int)Math.Round(o.FrequencyHz * 149 / scene.Fps))
            .Where(k => k is > 0 and < 16)
            .Distinct().Order().ToList();

    /// <summary>The <paramref name="count"/> non-DC bins with the most total power |S_k|² over the samples' pixels.</summary>
    private static List<int> StrongestBins(IReadOnlyList<Sample> samples, int count)
    {
        var power = new double[16];
        foreach (var s in samples)
        {
            var plane = s.Width * s.Height;
            for (var k = 1; k < 16; k++)
            {
                for (var c = 0; c < 4; c++)
                {
                    var offset = (k * 4 + c) * plane;
                    for (var p = 0; p < plane; p++)
                    {
                        var v = (double)s.SpectralVolume[offset + p];
                        power[k] += v * v;
                    }
                }
            }
        }
        return Enumerable.Range(1, 15).OrderByDescending(k => power[k]).Take(count).Order().ToList();
    }
}
