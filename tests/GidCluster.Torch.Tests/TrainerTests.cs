using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;
using GidCluster.Training.Trainer;

namespace GidCluster.Torch.Tests;

/// <summary>
/// The trainer end to end on a real dataset (<c>gid synth --corpus</c> + <c>gid dataprep</c>, 4 videos, 12 samples),
/// each run a real rank process (this assembly as <see cref="Worker"/>, the code path of <c>gid train rank</c>).
/// Frames are trained at 64×32 so that every run stays within seconds of CPU.
/// </summary>
public sealed class TrainerTests(TrainerTests.Corpus corpus) : IClassFixture<TrainerTests.Corpus>
{
    /// <summary>The dataset, and a VAE checkpoint briefly trained on it (the frozen encoder of the LDM runs here).</summary>
    public sealed class Corpus : IDisposable
    {
        private readonly TempDir _dir = Paths.NewTempDir("gid-train-corpus");

        public Corpus()
        {
            var gid = Path.Combine(Paths.Repo, "client", "bin", "Release", "net10.0", "gid.dll");
            var videos = Path.Combine(_dir.Path, "corpus");
            Check(Programs.Run("dotnet", [gid, "synth", "--corpus", "--out", videos, "--seed", "11", "--count", "4", "--frames", "170"], TimeSpan.FromMinutes(5)));
            Manifest = Path.Combine(_dir.Path, "dataset");
            Check(Programs.Run("dotnet", [gid, "dataprep", Path.Combine(videos, "videos"), "--out", Manifest, "--max-clips", "3", "--workers", "2", "--method", "dis-ultrafast"], TimeSpan.FromMinutes(5)));
            var vae = Spec("vae", "base-vae") with { Steps = 3, WarmupSteps = 1 };
            Check(Train(vae, Path.Combine(_dir.Path, "base-vae.json")));
            Vae = Path.Combine(vae.Output, Trainer.StepFolder(3), "vae.pt");
        }

        public string Manifest { get; }

        public string Vae { get; }

        public string Dir => _dir.Path;

        /// <summary>The dataset's clip length: the motion texture's period.</summary>
        public int ClipFrames => GidCluster.Dataprep.Manifest.ManifestFile.Read(Path.Combine(Manifest, GidCluster.Dataprep.Manifest.ManifestFile.FileName)).Config!["clip_frames"]!.GetValue<int>();

        public TrainSpec Spec(string stage, string name) => new()
        {
            Stage = stage,
            Dataset = Manifest,
            Output = Path.Combine(_dir.Path, name),
            BatchSize = 2,
            Steps = 10,
            LearningRate = 2e-3,
            WarmupSteps = 2,
            CheckpointEvery = 0,
            Seed = 1,
            FrameSize = [64, 32],
            Threads = 1,
        };

        public void Dispose() => _dir.Dispose();
    }

    private static void Check(ProgramResult result) => Assert.True(result.ExitCode == 0, result.Combined);

    /// <summary>Runs one rank process with <paramref name="spec"/> (written to <paramref name="specPath"/>).</summary>
    private static ProgramResult Train(TrainSpec spec, string specPath, int rank = 0, int world = 1, int port = 0)
    {
        File.WriteAllText(specPath, spec.ToJson());
        var env = new Dictionary<string, string?>
        {
            ["RANK"] = rank.ToString(CultureInfo.InvariantCulture),
            ["WORLD_SIZE"] = world.ToString(CultureInfo.InvariantCulture),
            ["MASTER_ADDR"] = world > 1 ? "127.0.0.1" : null,
            ["MASTER_PORT"] = world > 1 ? port.ToString(CultureInfo.InvariantCulture) : null,
        };
        return Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "train", specPath], TimeSpan.FromMinutes(8), environment: env);
    }

    private static List<StepMetrics> Metrics(ProgramResult result) => result.Stdout.Split('\n')
        .Where(l => l.StartsWith(RankProcess.MetricPrefix, StringComparison.Ordinal))
        .Select(l => JsonSerializer.Deserialize<StepMetrics>(l[RankProcess.MetricPrefix.Length..])!)
        .ToList();


    /// <summary>A library caller that passes no callbacks still gets the checkpoints its spec asks for.</summary>
    [Fact]
    public void Run_without_callbacks_still_writes_checkpoints()
    {
        var spec = corpus.Spec("vae", "no-callbacks") with { Steps = 2, WarmupSteps = 1, CheckpointEvery = 1 };
        var threads = torch.get_num_threads(); // the trainer sets this process's thread count; other tests share it
        try
        {
            using var trainer = new Trainer(spec, group: null);
            trainer.Run();
        }
        finally
        {
            torch.set_num_threads(threads);
        }
        foreach (var step in new[] { 1, 2 })
            Assert.True(File.Exists(Path.Combine(spec.Output, Trainer.StepFolder(step), "vae.pt")), $"no checkpoint at step {step} in {spec.Output}");
    }

    /// <summary>Trains a stage; returns (loss on the fixed batch before) / (after), and the wall time.</summary>
    private static (double Factor, double Seconds) LossFactor(TrainSpec spec)
    {
        var clock = Stopwatch.StartNew();
        var result = Train(spec, spec.Output + ".json");
        Check(result);
        var steps = Metrics(result);
        Assert.Equal(Enumerable.Range(1, (int)spec.Steps).Select(i => (long)i), steps.Select(s => s.Step));
        var fixedLoss = result.Stdout.Split('\n').Where(l => l.StartsWith(RankProcess.FixedLossPrefix, StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[2], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(2, fixedLoss.Count);
        return (fixedLoss[0] / fixedLoss[1], clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Stated factors of the loss on a fixed batch with fixed draws, before / after (seed 1, 64×32 frames, batch 2,
    /// one thread; deterministic): VAE ≥ 1.5 in 30 steps (3.07× before the trainer resized normalized volumes correctly, 1.74× since), stage 1 ≥ 1.2 in 30 steps (from this VAE), stage 2 ≥ 1.02
    /// in 20 steps (from this stage 1; only its frequency attention trains). Budget: each run under 420 s of wall
    /// time on this 2-core machine shared with other builds (the CPU time is about a quarter of that).
    /// </summary>
    [Fact]
    public void Each_stage_lowers_its_loss_on_the_synthetic_corpus_within_the_budget()
    {
        var vae = corpus.Spec("vae", "loss-vae") with { Steps = 30 };
        var (vaeFactor, vaeSeconds) = LossFactor(vae);
        var vaeFile = Path.Combine(vae.Output, Trainer.StepFolder(30), "vae.pt");
        var ldm1 = corpus.Spec("ldm1", "loss-ldm1") with { Steps = 30, VaeCheckpoint = vaeFile };
        var (ldm1Factor, ldm1Seconds) = LossFactor(ldm1);
        var ldm2 = corpus.Spec("ldm2", "loss-ldm2") with
        {
            Steps = 20,
            LearningRate = 5e-3,
            VaeCheckpoint = vaeFile,
            Stage1Checkpoint = Path.Combine(ldm1.Output, Trainer.StepFolder(30), "ldm.pt"),
        };
        var (ldm2Factor, ldm2Seconds) = LossFactor(ldm2);
        var report = FormattableString.Invariant($"vae {vaeFactor:F3}x in {vaeSeconds:F0} s; ldm1 {ldm1Factor:F3}x in {ldm1Seconds:F0} s; ldm2 {ldm2Factor:F3}x in {ldm2Seconds:F0} s");
        Console.WriteLine("TRAIN-LOSS " + report);
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "gid-train-loss-factors.txt"), report);
        Assert.True(vaeFactor >= 1.5, report);
        Assert.True(ldm1Factor >= 1.2, report);
        Assert.True(ldm2Factor >= 1.02, report);
        Assert.True(Math.Max(vaeSeconds, Math.Max(ldm1Seconds, ldm2Seconds)) < 420, report);
    }

    /// <summary>
    /// The renderer (tiny config, L1 only: no VGG file here) on (I_0, I_t, F_t) from the shards: stated factor of the
    /// fixed-batch loss before / after (seed 1, 64×32, batch 2, one thread, 30 steps), within the same budget as above.
    /// </summary>
    [Fact]
    public void The_renderer_lowers_its_loss_on_the_synthetic_corpus_within_the_budget()
    {
        var spec = corpus.Spec("renderer", "renderer-factor") with { Steps = 30 };
        var (factor, seconds) = LossFactor(spec);
        var report = FormattableString.Invariant($"renderer {factor:F3}x in {seconds:F0} s");
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "gid-train-renderer-factor.txt"), report);
        Assert.True(factor >= RendererFactor, report);
        Assert.True(seconds < 420, report);
    }

    /// <summary>The stated factor of the renderer's loss test (measured: see the README's training section).</summary>
    private const double RendererFactor = 5;

    /// <summary>
    /// Flows and frames line up: I_0 softmax-splatted by the batch's F_t is closer (L1) to the batch's I_t than I_0
    /// itself, on every batch of an epoch of the synthetic corpus at its stored size.
    /// </summary>
    [Fact]
    public void The_batch_flow_warps_the_start_image_towards_the_target_frame()
    {
        var loader = GidCluster.Dataprep.Shards.SampleLoader.Open(corpus.Manifest, new GidCluster.Dataprep.Shards.LoaderOptions
        {
            BatchSize = 2,
            Seed = 3,
            Normalize = false,
            ImageRange = GidCluster.Dataprep.Shards.ImageRange.ZeroToOne,
            TargetFrames = true,
        });
        var period = corpus.ClipFrames;
        var (warpedSum, plainSum) = (0.0, 0.0);
        foreach (var raw in loader.Epoch(0))
        {
            using var scope = torch.NewDisposeScope();
            var batch = GidCluster.Training.Data.BatchTensors.ToTrainingBatch(raw);
            Assert.NotNull(batch.Targets);
            Assert.All(batch.TargetOffsets!, t => Assert.InRange(t, 1, period));
            var (flow, importance) = StageLosses.RendererFlows(batch.Volumes, batch.TargetOffsets!, period);
            var warped = SoftmaxSplatting.Splat(batch.Images, flow, importance);
            warpedSum += (warped - batch.Targets!).abs().mean().item<float>();
            plainSum += (batch.Images - batch.Targets!).abs().mean().item<float>();
        }
        var report = FormattableString.Invariant($"L1 to I_t: warped {warpedSum:F4}, unwarped {plainSum:F4} (sums over batches)");
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "gid-train-warp-check.txt"), report);
        Assert.True(warpedSum < WarpMargin * plainSum, report);
    }

    /// <summary>Warped I_0 must have at most this fraction of the unwarped L1 (measured: see the README).</summary>
    private const double WarpMargin = 0.9;

    [Fact]
    public async Task Two_ranks_with_batch_b_end_where_one_rank_with_batch_2b_ends_for_stage_1()
    {
        var spec = corpus.Spec("ldm1", "ddp-2x2") with { VaeCheckpoint = corpus.Vae };
        var port = Loopback.FreePort();
        var ranks = await Task.WhenAll(Enumerable.Range(0, 2).Select(r => Task.Run(() => Train(spec, spec.Output + $".{r}.json", r, 2, port))));
        foreach (var r in ranks) Check(r);
        var single = corpus.Spec("ldm1", "ddp-1x4") with { VaeCheckpoint = corpus.Vae, DataShards = 2 };
        var oneRank = Train(single, single.Output + ".json");
        Check(oneRank);

        // The loss each step reports is the global batch's: the same on both sides.
        var (two, one) = (Metrics(ranks[0]), Metrics(oneRank));
        Assert.Equal(10, two.Count);
        for (var i = 0; i < 10; i++)
            Assert.True(Math.Abs(two[i].Loss - one[i].Loss) <= 1e-5 * Math.Abs(one[i].Loss), $"step {i + 1}: loss {two[i].Loss} vs {one[i].Loss}");

        var config = ModelConfig.Load("tiny");
        var a = Flat(config, Path.Combine(spec.Output, Trainer.StepFolder(10), "ldm.pt"));
        var b = Flat(config, Path.Combine(single.Output, Trainer.StepFolder(10), "ldm.pt"));
        var moved = (b - Flat(config, null)).norm().item<float>();
        var relative = (a - b).norm().item<float>() / b.norm().item<float>();
        Assert.True(moved > 1e-3, $"the weights did not move in 10 steps ({moved})");
        Assert.True(relative <= 1e-5, $"2 ranks × 2 vs 1 rank × 4: relative difference {relative:G3} of the parameters after 10 steps");
    }

    /// <summary>All stage-1 parameters of a checkpoint (<c>'model'</c>) as one vector; null: the seed-1 initial weights.</summary>
    private static Tensor Flat(ModelConfig config, string? checkpoint)
    {
        torch.manual_seed(1);
        using var unet = new UNet(config.Unet);
        if (checkpoint is not null) TrainingCheckpoint.LoadWeights(checkpoint, unet, preferEma: false);
        return torch.cat(unet.parameters().Select(p => p.detach().reshape(-1)).ToList(), 0).clone();
    }

    /// <summary>
    /// Accumulation and the EMA included. VAE: its loss draws a slice and a posterior sample per micro-batch; ldm2: the
    /// frozen stage 1 must stay frozen through the optimizer over a subset of the parameters; renderer: its target
    /// frames and offsets come from the data position.
    /// </summary>
    [Theory]
    [InlineData("vae")]
    [InlineData("ldm2")]
    [InlineData("renderer")]
    public void A_run_resumed_from_its_checkpoint_ends_bitwise_where_the_uninterrupted_run_ends(string stage)
    {
        var whole = corpus.Spec(stage, $"resume-{stage}-whole") with { Steps = 6, CheckpointEvery = 3, Accumulate = 2, EmaDecay = 0.9 };
        if (stage == "ldm2")
        {
            var ldm1 = corpus.Spec("ldm1", "resume-ldm2-base") with { Steps = 2, WarmupSteps = 1, VaeCheckpoint = corpus.Vae };
            Check(Train(ldm1, ldm1.Output + ".json"));
            whole = whole with { VaeCheckpoint = corpus.Vae, Stage1Checkpoint = Path.Combine(ldm1.Output, Trainer.StepFolder(2), "ldm.pt") };
        }
        Check(Train(whole, whole.Output + ".json"));
        var file = TrainSpec.CheckpointFile(stage);
        var resumed = whole with
        {
            Output = Path.Combine(corpus.Dir, $"resume-{stage}-second"),
            Resume = Path.Combine(whole.Output, Trainer.StepFolder(3), file),
        };
        var second = Train(resumed, resumed.Output + ".json");
        Check(second);
        Assert.Equal([4L, 5L, 6L], Metrics(second).Select(m => m.Step));
        Assert.False(Directory.Exists(Path.Combine(resumed.Output, Trainer.StepFolder(3))));

        var config = ModelConfig.Load("tiny");
        nn.Module Model() => stage switch
        {
            "vae" => new AutoencoderKL(config.Vae),
            "ldm2" => new FrequencyCoordinatedUNet(new UNet(config.Unet), config.Stage2),
            _ => new Renderer(config.Renderer),
        };
        foreach (var ema in new[] { false, true })
        {
            using var a = Model();
            using var b = Model();
            TrainingCheckpoint.LoadWeights(Path.Combine(whole.Output, Trainer.StepFolder(6), file), a, ema);
            TrainingCheckpoint.LoadWeights(Path.Combine(resumed.Output, Trainer.StepFolder(6), file), b, ema);
            var pa = a.named_parameters().ToList();
            var pb = b.named_parameters().ToList();
            Assert.NotEmpty(pa);
            for (var i = 0; i < pa.Count; i++)
                Assert.True(pa[i].parameter.eq(pb[i].parameter).all().item<bool>(), $"{stage}: {(ema ? "ema" : "model")} {pa[i].name} differs after resuming");
        }
    }

    /// <summary>
    /// <c>precision=bf16</c> reaches the rank process's forward pass: the VAE's loss on the fixed batch differs from the fp32
    /// run's (same seed, weights and draws) by under 1% but not 0, the log says so, the config beside the checkpoint records
    /// it, and the checkpoint holds float32 tensors only as python3-torch loads it (model, EMA, optimizer state). A precision
    /// that does not exist is refused, naming the key and the allowed values.
    /// </summary>
    [Fact]
    public void Precision_bf16_reaches_the_rank_and_its_checkpoint_stays_float32()
    {
        var fp32 = corpus.Spec("vae", "precision-fp32") with { Steps = 1, WarmupSteps = 0 };
        var bf16 = fp32 with { Output = Path.Combine(corpus.Dir, "precision-bf16"), Overrides = ["precision=bf16"] };
        var (a, b) = (Train(fp32, fp32.Output + ".json"), Train(bf16, bf16.Output + ".json"));
        Check(a);
        Check(b);
        static double FixedLoss(ProgramResult r) => double.Parse(
            r.Stdout.Split('\n').First(l => l.StartsWith(RankProcess.FixedLossPrefix, StringComparison.Ordinal)).Split(' ')[2], CultureInfo.InvariantCulture);
        var (l32, l16) = (FixedLoss(a), FixedLoss(b));
        var relative = Math.Abs(l16 - l32) / l32;
        Assert.True(relative is > 0 and < 1e-2, $"fixed-batch loss fp32 {l32}, bf16 {l16}");
        Assert.Contains("precision: bf16 autocast", b.Stderr);
        Assert.DoesNotContain("autocast", a.Stderr);
        var dir = Path.Combine(bf16.Output, Trainer.StepFolder(1));
        Assert.Equal("bf16", ModelConfig.Load(Path.Combine(dir, ModelConfig.FileName)).Precision);
        var dtypes = Programs.RunPython("""
            import sys, torch
            def walk(o):
                if isinstance(o, torch.Tensor): yield str(o.dtype)
                elif isinstance(o, dict): yield from (d for v in o.values() for d in walk(v))
                elif isinstance(o, (list, tuple)): yield from (d for v in o for d in walk(v))
            c = torch.load(sys.argv[1])
            print(sorted(set(d for k in ('model', 'ema', 'optimizer') for d in walk(c[k]) if 'float' in d or 'bfloat' in d)))
            """, [Path.Combine(dir, "vae.pt")], TimeSpan.FromMinutes(2));
        Assert.Equal("['torch.float32']", dtypes.Trim());

        var bad = fp32 with { Output = Path.Combine(corpus.Dir, "precision-bad"), Overrides = ["precision=fp8"] };
        var refused = Train(bad, bad.Output + ".json");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("config key 'precision': 'fp8' is not one of fp32, bf16", refused.Stderr);
    }

    [Theory]
    [InlineData("mystery", "stage 'mystery'")]
    [InlineData("ldm1", "needs the VAE checkpoint")]
    public void A_bad_spec_is_refused_naming_the_problem(string stage, string expected)
    {
        var spec = corpus.Spec(stage, "bad");
        var e = Assert.Throws<ArgumentException>(spec.Validate);
        Assert.Contains(expected, e.Message);
    }
}
