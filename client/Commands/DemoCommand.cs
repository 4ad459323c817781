using System.CommandLine;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using GidCluster.Contracts;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Plots;
using GidCluster.Dataprep.Shards;
using GidCluster.Dataprep.Statistics;
using GidCluster.Dataprep.Synthetic;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Work;
using GidCluster.Silo.Hosting;
using GidCluster.Silo.Ingestion;
using GidCluster.Training.Trainer;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid demo</c>: the main job on the embedded default. One Orleans silo in this process (both roles, SQLite grain
/// state, local blobs) ingests the learnable synthetic corpus (or <c>--videos</c>), trains vae → ldm1 → ldm2 and the
/// renderer through the training-run grain with two ranks each, pulls the model folder, animates the held-out pictures
/// (plain and looping) and scores them against their true motion and the mean-spectrum baseline
/// (<see cref="DemoEvaluation"/>). Every figure in the report is computed in this run.
/// </summary>
public static class DemoCommand
{
    /// <summary>The stages in training order.</summary>
    private static readonly string[] Stages = ["vae", "ldm1", "ldm2", "renderer"];

    /// <summary>Steps and per-rank batch of one training stage.</summary>
    private sealed record StagePlan(long Steps, int Batch);

    private sealed record Settings(int Videos, int Heldout, int MaxClips, StagePlan Vae, StagePlan Ldm1, StagePlan Ldm2, StagePlan Renderer, string FrameSize,
        double NoiseSigma, int DdimSteps, int LoopSteps, int VaeSamples)
    {
        /// <summary>
        /// The tiny config with a 4× latent instead of 8×: at 64×32 frames an object is a few pixels across, and a
        /// 1,500-step VAE at 8× reconstructed almost none of its motion (relative error 0.98 on the pixels with
        /// |S'| > 1; 0.58 at 4×; `tiny` itself stays as the tests use it).
        /// And all 16 bins in one slice (<c>unet.bins_per_slice=16</c>, a deviation from the paper's one bin per slice): in
        /// the toy of docs/experiments one bin per slice stays at chance, two reach 0.50, all four 0.95; on this corpus it
        /// left the dominant-bin score at 0.25 but cut the amplitude error from 0.63 to 0.40 (baseline 0.46).
        /// The U-Net stays 16 channels wide although a 16-bin slice is 64 latent channels, a bottleneck (ε-loss 0.76 at
        /// t = 950, where ε ≈ z_t): with unet.channels=64 the run took 28.3 minutes, too close to the 30-minute budget,
        /// and scored 0.28 within ±1 bin with an amplitude error of 0.96 (docs/experiments/README.md).
        /// </summary>
        public string[] Overrides { get; init; } = ["vae.channel_mult=[1,2,2]", "unet.down_factor=4", "unet.bins_per_slice=16"];

        public StagePlan Plan(string stage) => stage switch { "vae" => Vae, "ldm1" => Ldm1, "ldm2" => Ldm2, _ => Renderer };
    }

    // Sensor noise σ 0.25 rather than the corpus default 1: the 95th-percentile normalization sets each bin's scale by
    // the background's flow noise where few pixels move, so noise σ 1 left the objects only ~2× above it and the
    // stage-1 model learned to ignore the picture (its loss with the picture, without it, or with another picture
    // agreed to 0.1%). σ 0 makes the scales 4× smaller.
    private static readonly Settings Full = new(Videos: 24, Heldout: 8, MaxClips: 4, Vae: new(2000, 8), Ldm1: new(5000, 8), Ldm2: new(400, 2), Renderer: new(1000, 4),
        FrameSize: "64x40", NoiseSigma: 0.25, DdimSteps: 50, LoopSteps: 100, VaeSamples: 32);
    private static readonly Settings Quick = new(Videos: 3, Heldout: 2, MaxClips: 2, Vae: new(4, 1), Ldm1: new(4, 1), Ldm2: new(2, 1), Renderer: new(2, 1),
        FrameSize: "64x40", NoiseSigma: 0.25, DdimSteps: 4, LoopSteps: 4, VaeSamples: 4);

    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "A shortened run for CI: a small corpus and a few training steps per stage." };
        var output = new Option<string>("--out") { Description = "Output folder (emptied first).", DefaultValueFactory = _ => "demo-out" };
        var videos = new Option<string?>("--videos") { Description = "Ingest the videos of this folder instead of generating the corpus (no held-out truth then)." };
        var rule = new Option<string>("--rule")
        {
            Description = $"Corpus rule, a comma list of {string.Join(", ", CorpusRule.Known.Keys)}.",
            DefaultValueFactory = _ => CorpusRule.Default,
        };
        var seed = new Option<int>("--seed") { Description = "First corpus seed (also the training seed).", DefaultValueFactory = _ => 100 };
        var command = new Command("demo", "Run the main job on the embedded default: corpus → embedded cluster → dataprep → training (2 ranks) → model folder, report.")
        {
            quick, output, videos, rule, seed,
        };
        command.SetAction((parse, cancel) => Cli.RunAsync("gid demo", () =>
        {
            var s = parse.GetValue(seed);
            if (s is < 0 or > 1_000_000)
                throw new ArgumentException($"--seed {s}: must be 0…1000000");
            var source = parse.GetValue(videos);
            if (source != null && !Directory.Exists(source))
                throw new ArgumentException($"--videos {source}: no such folder");
            return RunAsync(Path.GetFullPath(parse.GetValue(output)!), source, CorpusRule.Parse(parse.GetValue(rule)!), s,
                parse.GetValue(quick) ? Quick : Full, parse.GetValue(quick), cancel);
        }));
        return command;
    }

    private static async Task<int> RunAsync(string outDir, string? videoSource, CorpusRule rule, int seed, Settings settings, bool quick, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        if (Directory.Exists(outDir))
            Directory.Delete(outDir, recursive: true);
        Directory.CreateDirectory(outDir);
        var work = Directory.CreateDirectory(Path.Combine(outDir, "work")).FullName;
        var report = new JsonObject
        {
            ["mode"] = quick ? "quick" : "full",
            ["seed"] = seed,
            ["settings"] = JsonSerializer.SerializeToNode(settings),
        };

        Console.WriteLine($"GidCluster demo ({(quick ? "quick" : "full")}): embedded cluster in this process, output in {outDir}");
        string videoDir;
        if (videoSource == null)
        {
            Console.WriteLine();
            Console.WriteLine($"1. The learnable corpus: {settings.Videos} videos and {settings.Heldout} held-out pictures, rule {rule}, sensor noise σ {settings.NoiseSigma}");
            var corpus = Path.Combine(work, "corpus");
            SynthCommand.WriteCorpus(corpus, rule, seed, settings.Videos, settings.Heldout, 256, 160, 160, objects: 4, settings.NoiseSigma, crf: 10);
            videoDir = Path.Combine(corpus, "videos");
            report["rule"] = rule.ToString();
        }
        else
        {
            videoDir = Path.GetFullPath(videoSource);
            Console.WriteLine();
            Console.WriteLine($"1. Videos from {videoDir}");
        }
        var videoFiles = Directory.EnumerateFiles(videoDir).Where(f => !f.EndsWith(".json", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        if (videoFiles.Count == 0)
            throw new ArgumentException($"--videos {videoDir}: no files");

        // Read when the silo registers its pipelines; caps the clips per video so the demo fits its budget.
        Environment.SetEnvironmentVariable(DataprepPipeline.MaxClipsVariable, settings.MaxClips.ToString());
        Environment.SetEnvironmentVariable("GID_RUNS_DIR", Path.Combine(work, "runs"));
        var options = new SiloOptions
        {
            Role = SiloRoles.All,
            Id = "gid-demo",
            Store = $"sqlite:{Path.Combine(work, "cluster.db")}",
            Blob = $"file:{Path.Combine(work, "blobs")}",
            Urls = "http://127.0.0.1:0",
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
            Token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)),
            AllowedRoots = [videoDir],
        }.Validate();
        // The demo keeps both cores busy on purpose (dataprep, 2 training ranks): the silo's health monitor then warns of
        // thread-pool stalls and late timers every few seconds, between the progress bars, with nothing for the user to do.
        var app = SiloHost.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Orleans.Runtime.MembershipService.LocalSiloHealthMonitor", LogLevel.Error)
            .AddFilter("Orleans.Runtime.AsyncTimer", LogLevel.Error));
        await SiloHost.StartAsync(app, cancel);
        try
        {
            var url = SiloHost.Address(app);
            Console.WriteLine();
            Console.WriteLine($"2. Embedded cluster up (one Orleans silo, both roles; gateway {SiloHost.Gateway(options)}; token {options.Token})");
            Console.WriteLine($"   dashboard:         {url}/dashboard");
            Console.WriteLine($"   Orleans dashboard: {url}/orleans/ (after signing in on the dashboard)");
            await using var client = await ClusterClient.ConnectAsync(SiloHost.Gateway(options), cancel);

            Console.WriteLine();
            Console.WriteLine($"3. Ingesting {videoFiles.Count} videos (dataprep, at most {settings.MaxClips} clips each)");
            var grain = client.Grains.GetGrain<IIngestionJobGrain>(IngestionJobs.NewJobId(DateTimeOffset.UtcNow));
            var job = await grain.Submit(new SubmitIngestionRequest(videoFiles, "demo", DataprepPipeline.Name));
            job = await IngestCommand.FollowAsync(grain, job, cancel);
            if (job.State != "succeeded" || job.Manifest is null)
                throw new InvalidOperationException($"the ingestion job ended {job.State}: {job.Error}");
            var manifestPath = Path.Combine(work, "blobs", job.Manifest);
            var manifest = ManifestFile.Read(manifestPath);
            ManifestFile.Verify(manifestPath, manifest);
            report["dataset"] = new JsonObject { ["videos"] = videoFiles.Count, ["samples"] = manifest.TotalRows, ["shards"] = manifest.Shards.Count };
            Console.WriteLine($"   {manifest.TotalRows} samples in {manifest.Shards.Count} shard(s), sha256 verified");
            WriteSpectrum(manifestPath, manifest, Path.Combine(outDir, "dataset-spectrum.png"));
            if (videoSource == null)
            {
                var (scores, _) = ObjectSpectra.ScoreDataset(manifestPath);
                var hits = scores.Count(s => s.Within(1));
                report["dataprep_dominant_bin_accuracy"] = scores.Count == 0 ? null : (double)hits / scores.Count;
                Console.WriteLine($"   recovered motion: {hits}/{scores.Count} object-clips at their true dominant bin ±1 (the data the model learns from)");
            }

            Console.WriteLine();
            Console.WriteLine($"4. Training through the run grain, 2 ranks each, tiny config ({string.Join(", ", settings.Overrides)}), frames {settings.FrameSize}");
            var training = new JsonObject();
            report["training"] = training;
            string? previous = null;
            var runs = new Dictionary<string, string>();
            foreach (var stage in Stages)
            {
                var (steps, batch) = settings.Plan(stage);
                var run = $"demo-{stage}";
                // The renderer learns from the dataset alone (I_0, I_t, F_t); the others build on the previous stage.
                var from = stage == "renderer" ? null : previous;
                // A checkpoint every fifth of the run, and up to 3 restarts from the newest one when a rank dies.
                var request = new TrainLaunchRequest(stage, "demo", 2, "tiny", from, settings.Overrides, batch, steps, Math.Max(1, steps / 5), (ulong)seed,
                    [.. settings.FrameSize.Split('x').Select(int.Parse)], 3);
                var details = await TrainAsync(client, run, request, cancel);
                training[stage] = new JsonObject
                {
                    ["run"] = run,
                    ["state"] = details.Run.State,
                    ["steps"] = steps,
                    ["final_loss"] = details.Loss,
                    ["samples_per_second"] = details.SamplesPerSecond,
                };
                if (details.Run.State != "succeeded")
                    throw new InvalidOperationException($"training run {run} ended {details.Run.State}: {details.Run.Error}");
                runs[stage] = run;
                if (stage != "renderer") previous = run;
            }

            var last = runs["ldm2"];
            Console.WriteLine();
            Console.WriteLine($"5. Pulling the model folder of {last} (with the renderer of {runs["renderer"]})");
            var modelDir = Path.Combine(outDir, "model");
            var checkpoint = (await CheckpointPull.ListAsync(client, last)).LastOrDefault()
                ?? throw new InvalidOperationException($"training run {last} has no checkpoints");
            await CheckpointPull.PullAsync(client, client.OpenBlobs(options.Blob), last, checkpoint, modelDir, cancel, runs["renderer"]);
            report["model_folder"] = modelDir;

            using var bundle = Inference.Models.ModelBundle.Load(modelDir);
            report["vae_reconstruction_error"] = DemoEvaluation.VaeError(bundle, manifestPath, settings.VaeSamples);
            Console.WriteLine($"   VAE reconstruction error (relative L1 of normalized slices, {settings.VaeSamples} samples at most): {(double)report["vae_reconstruction_error"]!:F3}");
            if (videoSource == null)
            {
                var pictures = Directory.GetFiles(Path.Combine(work, "corpus", "heldout"), "heldout_*.png")
                    .Where(f => !f.EndsWith("_labels.png", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
                Console.WriteLine();
                Console.WriteLine($"6. Animating {pictures.Count} held-out pictures, plain ({settings.DdimSteps} DDIM steps) and looping ({settings.LoopSteps} guided steps), same seeds");
                var held = DemoEvaluation.HeldOut(bundle, manifestPath, pictures, outDir, new DemoEvaluation.Budget(settings.DdimSteps, settings.LoopSteps, 149 / 30.0));
                foreach (var (key, value) in held)
                    report[key] = value?.DeepClone();
                Console.WriteLine($"   dominant bin within ±1: model {(double?)held["dominant_bin_accuracy"]:P0}, mean-spectrum baseline {(double?)held["baseline_dominant_bin_accuracy"]:P0}; " +
                                  $"amplitude error {(double?)held["amplitude_rel_error"]:F2} vs {(double?)held["baseline_amplitude_rel_error"]:F2}; " +
                                  $"loop error ratio (median) {(double?)held["loop_error_ratio"]:F3}; PSNR {(double?)held["render_psnr_db"]:F1} dB");
            }
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }

        report["wall_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        var options2 = new JsonSerializerOptions { WriteIndented = true };
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.json"), report.ToJsonString(options2), cancel);
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), Markdown(report), cancel);
        Console.WriteLine();
        Console.WriteLine($"7. Report: {Path.Combine(outDir, "report.json")} and report.md ({clock.Elapsed.TotalMinutes:F1} min)");
        return 0;
    }

    /// <summary>Launches one stage on the run grain and follows it with a progress bar until it ends.</summary>
    private static async Task<RunDetails> TrainAsync(ClusterClient client, string run, TrainLaunchRequest request, CancellationToken cancel)
    {
        var grain = client.Grains.GetGrain<ITrainingRunGrain>(run);
        await grain.Launch(request);
        RunDetails? details = null;
        await AnsiConsole.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var bar = ctx.AddTask($"{request.Stage} ({request.Steps} steps)", maxValue: request.Steps);
                while (true)
                {
                    details = await grain.GetDetails();
                    if (details?.Step is { } step)
                        bar.Value = step;
                    if (details?.Run.State is "succeeded" or "failed")
                        break;
                    await Task.Delay(1000, cancel);
                }
                bar.Description = $"{request.Stage}: {details!.Run.State}, loss {details.Loss?.ToString("G4") ?? "-"}";
            });
        return details!;
    }

    private static void WriteSpectrum(string manifestPath, DatasetManifest manifest, string png)
    {
        var spectrum = new PowerSpectrum();
        foreach (var shard in manifest.Shards)
        {
            using var reader = ShardReader.Open(ManifestFile.ShardPath(manifestPath, shard));
            foreach (var sample in reader.ReadAll())
                spectrum.Write(sample);
        }
        SpectrumPlot.Write(spectrum, "demo: average motion power per frequency bin", png);
        Console.WriteLine($"   dataset spectrum: {png}");
    }

    /// <summary>The headline figures as a table, the per-object scores, then every entry of report.json.</summary>
    private static string Markdown(JsonObject report)
    {
        static string F(JsonNode? v, string format) => v is JsonValue value && value.TryGetValue<double>(out var d) ? d.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : "—";
        var lines = new List<string>
        {
            "# GidCluster demo report", "",
            $"Mode {report["mode"]}, seed {report["seed"]}, rule `{report["rule"]?.ToString() ?? "(own videos)"}`, {F(report["wall_seconds"], "F0")} s in all.", "",
            "| figure | model | baseline (training-set mean spectrum) |",
            "|---|---|---|",
            $"| held-out objects with the dominant bin within ±1 | {F(report["dominant_bin_accuracy"], "P0")} | {F(report["baseline_dominant_bin_accuracy"], "P0")} |",
            $"| relative error of the motion amplitude | {F(report["amplitude_rel_error"], "F3")} | {F(report["baseline_amplitude_rel_error"], "F3")} |",
            $"| loop error L_g, unguided → self-guided (mean) | {F(report["loop_error_unguided"], "G4")} → {F(report["loop_error_guided"], "G4")} (median ratio {F(report["loop_error_ratio"], "F3")}) | |",
            $"| PSNR of the animation against the scene's true frames | {F(report["render_psnr_db"], "F1")} dB | still picture {F(report["still_picture_psnr_db"], "F1")} dB |",
            $"| VAE reconstruction error (relative L1, normalized slices) | {F(report["vae_reconstruction_error"], "F3")} | |",
            $"| dataprep: object-clips whose recovered dominant bin is within ±1 | {F(report["dataprep_dominant_bin_accuracy"], "P0")} | |",
            "",
            $"DDIM steps: {report["ddim_steps"]} plain, {report["loop_steps"]} loop-guided (the paper uses 250 and 500; fewer here for the time budget).",
            "",
        };
        if (report["per_object"] is JsonArray objects)
        {
            lines.Add("| picture | object | kind | true bin | predicted bin | true amplitude | predicted amplitude |");
            lines.Add("|---|---|---|---|---|---|---|");
            foreach (var o in objects)
                lines.Add($"| {o!["picture"]} | {o["object"]} | {o["kind"]} | {o["true_bin"]} | {o["predicted_bin"]} | {F(o["true_amplitude"], "F1")} | {F(o["predicted_amplitude"], "F1")} |");
            lines.Add("");
        }
        lines.Add("## Every entry of report.json");
        lines.Add("");
        foreach (var (key, value) in report)
        {
            if (key is "per_object" or "per_picture_loop") continue;
            lines.Add($"- **{key}**: `{value?.ToJsonString() ?? "null"}`");
        }
        return string.Join('\n', lines) + "\n";
    }
}
