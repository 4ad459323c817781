using System.Diagnostics;
using System.Globalization;
using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;
using GidCluster.Training.Tensors;
using GidCluster.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// <c>gid bench train [STEPS] [--batch N] [--threads N]</c>: the training step of each stage with the <c>tiny</c>
/// config on CPU (loss, backward, AdamW step, on random batches of the trainer's shapes: 64×32 frames, batch 2, 16
/// bins) as samples/s, in float32 and under bf16 autocast (the forward pass of <c>precision=bf16</c>; CPU bf16 is not what it is
/// for, so that figure has no goal); the checkpoint's save and load time and size; and the stage-1 step against the identical
/// network in python3-torch (training/Reference/stage1_unet.py, rebuilt from the saved config and weights),
/// interleaved step by step, medians, after checking that both compute the same loss.
/// </summary>
public sealed class TrainBenchmark : IBenchmark
{
    private const int Batch = 2, Height = 32, Width = 64, Frequencies = 16, Period = 149;

    public string Name => "train";

    public string Description => "Training samples/s per stage (tiny, CPU), checkpoint save/load, stage-1 step C# vs python3-torch.";

    public Task<int> RunAsync(BenchContext context, CancellationToken cancel)
    {
        var waitPolicy = PythonStepper.WaitPolicyOrRunAgain(out var exitCode);
        return Task.FromResult(waitPolicy == null ? exitCode : Run(context, waitPolicy, cancel));
    }

    private static int Run(BenchContext context, string waitPolicy, CancellationToken cancel)
    {
        var positional = context.Arguments.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || !context.Arguments[i - 1].StartsWith("--", StringComparison.Ordinal))).ToList();
        var steps = positional.Count > 0 ? int.Parse(positional[0], CultureInfo.InvariantCulture) : 10;
        if (steps < 2) throw new ArgumentException($"steps {steps} must be at least 2 (the first is warm-up)");
        var compareBatch = Option(context.Arguments, "--batch", 8);
        var threads = Option(context.Arguments, "--threads", Environment.ProcessorCount);
        set_num_threads(threads);
        var config = ModelConfig.Load("tiny");
        manual_seed(1);
        using var images = rand([Batch, 3, Height, Width]);
        using var targets = rand([Batch, 3, Height, Width]);
        using var volumes = randn([Batch, Frequencies, 4, Height, Width]);
        using var vae = new AutoencoderKL(config.Vae);
        using var frozen = new AutoencoderKL(config.Vae);
        foreach (var p in frozen.parameters()) p.requires_grad = false;
        // Keys as the trainer passes them: after the first step the latents come from the cache, as in training.
        using var latents = new LatentCache(frozen, 64L << 20);
        var keys = Enumerable.Range(0, Batch).Select(i => $"bench-{i}").ToArray();
        using var schedule = new NoiseSchedule(config.Unet);
        using var unet = new UNet(config.Unet);
        using var stage2 = new FrequencyCoordinatedUNet(new UNet(config.Unet), config.Stage2);
        using var renderer = new Renderer(config.Renderer);
        using var rendererLoss = new RendererLoss(null, config.Renderer.PerceptualWeight, _ => { });
        int[] offsets = [3, 40]; // frames into the clip (of the dataset's clip length, the paper's 149)
        var figures = new List<BenchFigure>();
        var stages = new (string Name, nn.Module Model, Func<Generator, Tensor> Loss)[]
        {
            ("vae", vae, g => StageLosses.Vae(vae, volumes, g)),
            ("ldm1", unet, g => StageLosses.Stage1(unet, schedule, latents, images * 2 - 1, volumes, keys, g)),
            ("ldm2", stage2, g => StageLosses.Stage2(stage2, schedule, latents, images * 2 - 1, volumes, keys, g)),
            ("renderer", renderer, _ => StageLosses.Renderer(renderer, rendererLoss, images, volumes, targets, offsets, Period)),
        };
        foreach (var (name, model, loss) in stages)
        {
            foreach (var precision in Autocast.Precisions)
            {
                using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), lr: 1e-4);
                var times = new List<double>();
                for (var i = 0; i < steps; i++)
                {
                    cancel.ThrowIfCancellationRequested();
                    var clock = Stopwatch.StartNew();
                    using (var scope = NewDisposeScope())
                    using (var g = new Generator((ulong)i))
                    {
                        optimizer.zero_grad();
                        Tensor value;
                        using (Autocast.Enter(precision)) value = loss(g);
                        value.backward(); // after the region, as the trainer does
                        optimizer.step();
                    }
                    if (i > 0) times.Add(clock.Elapsed.TotalSeconds); // the first step allocates
                }
                var median = BenchReport.Median(times);
                var (label, key) = precision == Autocast.Float32Precision ? (name, name) : ($"{name} ({precision} autocast)", $"{name}_{precision}");
                Console.WriteLine($"{label}: {median * 1000:F0} ms per step of {Batch} samples (median of {times.Count}) = {Batch / median:F2} samples/s");
                figures.Add(new BenchFigure($"{key}_samples_per_s", Batch / median, "samples/s"));
            }
        }

        // Checkpoint of the stage-1 U-Net with its AdamW state; Python reads this same file below.
        var checkpoint = Path.Combine(context.ScratchDir, "ldm.pt");
        using (var optimizer = optim.AdamW(unet.parameters(), lr: 1e-4))
        {
            using (var scope = NewDisposeScope())
            using (var g = new Generator(1))
            {
                StageLosses.Stage1(unet, schedule, latents, images * 2 - 1, volumes, keys, g).backward();
                optimizer.step(); // so the optimizer has state to save
            }
            var save = Stopwatch.StartNew();
            TrainingCheckpoint.Save(checkpoint, unet, optimizer, new TrainingPosition(1, 0, 1));
            var saveMs = save.Elapsed.TotalMilliseconds;
            var load = Stopwatch.StartNew();
            TrainingCheckpoint.Load(checkpoint, unet, optimizer);
            var loadMs = load.Elapsed.TotalMilliseconds;
            var size = new FileInfo(checkpoint).Length;
            Console.WriteLine($"checkpoint (stage-1 U-Net + AdamW state): {size / 1e6:F2} MB, save {saveMs:F0} ms, load {loadMs:F0} ms");
            figures.Add(new BenchFigure("checkpoint_save_ms", saveMs, "ms"));
            figures.Add(new BenchFigure("checkpoint_load_ms", loadMs, "ms"));
            figures.Add(new BenchFigure("checkpoint_size_mb", size / 1e6, "MB"));
        }

        var (csMs, pyMs, lossError) = CompareStage1(context, config, unet, checkpoint, compareBatch, threads, steps, waitPolicy, cancel);
        if (lossError > 1e-4)
        {
            Console.Error.WriteLine($"gid bench train: the Python replica's stage-1 loss differs from ours by {lossError:E2} (relative): not the same network");
            return 1;
        }
        figures.Add(new BenchFigure("ldm1_step_ms", csMs, "ms", pyMs, csMs / pyMs, "<= 1.0 (C# / python3-torch)"));
        BenchReport.Print("train", figures, new Dictionary<string, string>
        {
            ["threads"] = threads.ToString(CultureInfo.InvariantCulture),
            ["ldm1_compare"] = $"batch {compareBatch}, {Height}x{Width} frames, AdamW(1e-4, wd 0.01), {steps} interleaved steps after 2 warm-up, medians",
            ["libtorch"] = "C#: TorchSharp 0.107 (libtorch 2.10); Python: Debian python3-torch (libtorch 1.13)",
            ["ldm1_loss_rel_error"] = lossError.ToString("E2", CultureInfo.InvariantCulture),
        });
        return 0;
    }

    /// <summary>
    /// The stage-1 step, ours against the replica in python3-torch on the same weights and inputs (deterministic
    /// sine patterns both sides compute): first the loss of both on the untouched weights, then steps interleaved one
    /// by one, alternating which side goes first. Returns the median step of each side and the loss's relative difference.
    /// </summary>
    private static (double CsMs, double PyMs, double LossError) CompareStage1(BenchContext context, ModelConfig config, UNet unet, string checkpoint,
        int batch, int threads, int steps, string waitPolicy, CancellationToken cancel)
    {
        var configPath = config.SaveTo(context.ScratchDir);
        var replica = Path.Combine(AppContext.BaseDirectory, "Reference", "stage1_unet.py");
        if (!File.Exists(replica)) throw new FileNotFoundException($"the stage-1 replica is missing beside gid: {replica}", replica);
        var c = config.Unet;
        long h = Height / c.DownFactor, w = Width / c.DownFactor;
        using var scope = NewDisposeScope();
        var noisy = Wave([batch, c.LatentChannels, h, w], 0.37);
        var image = Wave([batch, 3, Height, Width], 0.11);
        var target = Wave([batch, c.LatentChannels, h, w], 0.53);
        var t = arange(batch, dtype: ScalarType.Int64).mul(397).remainder(c.Timesteps);
        var k = arange(batch, dtype: ScalarType.Int64).remainder(c.Frequencies);
        var keep = ones(batch, dtype: ScalarType.Bool);
        Tensor Loss() => nn.functional.mse_loss(unet.forward(noisy, t, k, image, keep), target);
        using var optimizer = optim.AdamW(unet.parameters(), lr: 1e-4, weight_decay: 0.01);
        using var python = new PythonStepper(["-c", Stage1Stepper, replica, configPath, checkpoint, $"{batch}", $"{Height}", $"{Width}", $"{threads}"], waitPolicy);
        double csLoss;
        using (no_grad()) csLoss = Loss().item<float>();
        var pyLoss = python.Ask("loss");
        var lossError = Math.Abs(csLoss - pyLoss) / Math.Max(Math.Abs(pyLoss), 1e-12);
        Console.WriteLine($"stage-1 loss on the same weights and inputs: C# {csLoss:G7}, Python {pyLoss:G7} (relative difference {lossError:E2})");
        double Step()
        {
            var clock = Stopwatch.StartNew();
            using (NewDisposeScope())
            {
                optimizer.zero_grad();
                Loss().backward();
                optimizer.step();
            }
            return clock.Elapsed.TotalMilliseconds;
        }
        const int warmup = 2;
        var cs = new List<double>();
        var py = new List<double>();
        for (var i = 0; i < warmup + steps; i++)
        {
            cancel.ThrowIfCancellationRequested();
            double a, b;
            if (i % 2 == 0) (a, b) = (Step(), python.Ask("step"));
            else (b, a) = (python.Ask("step"), Step());
            if (i < warmup) continue;
            cs.Add(a);
            py.Add(b);
        }
        var (csMs, pyMs) = (BenchReport.Median(cs), BenchReport.Median(py));
        Console.WriteLine($"stage-1 step (batch {batch}, {Height}x{Width} frames, {threads} threads): C# {csMs:F1} ms, Python {pyMs:F1} ms, ratio {csMs / pyMs:F3}");
        return (csMs, pyMs, lossError);
    }

    /// <summary>sin(0.37·i) over the flat index: the same numbers in both processes, with no RNG to match.</summary>
    private static Tensor Wave(long[] shape, double frequency) =>
        arange(shape.Aggregate(1L, (a, b) => a * b), dtype: ScalarType.Float32).mul(frequency).sin().reshape(shape);

    private static int Option(IReadOnlyList<string> args, string name, int fallback)
    {
        var i = args.ToList().IndexOf(name);
        return i >= 0 && i + 1 < args.Count ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    // Run by a PythonStepper: "loss" answers the loss on the current weights, "step" one training step's milliseconds.
    private const string Stage1Stepper = """
        import sys, json, math, time, importlib.util, torch
        import torch.nn.functional as F
        spec = importlib.util.spec_from_file_location('stage1_unet', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        cfg = json.load(open(sys.argv[2]))['unet']
        sd = torch.load(sys.argv[3], weights_only=False)['model']
        b, h, w, threads = (int(v) for v in sys.argv[4:8])
        torch.set_num_threads(threads)
        params = [v.requires_grad_(True) for v in sd.values() if v.is_floating_point()]
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
        def wave(shape, f): return torch.sin(torch.arange(math.prod(shape), dtype=torch.float32) * f).reshape(shape)
        z, d = cfg['latent_channels'], cfg['down_factor']
        noisy, image, target = wave((b, z, h // d, w // d), 0.37), wave((b, 3, h, w), 0.11), wave((b, z, h // d, w // d), 0.53)
        t = (torch.arange(b) * 397 % cfg['timesteps']).float(); k = torch.arange(b) % cfg['frequencies']; keep = torch.ones(b, dtype=torch.bool)
        def loss(): return F.mse_loss(m.eps(sd, cfg, noisy, image, t, k, keep), target)
        print('ready', flush=True)
        for line in sys.stdin:
            if line.strip() == 'loss':
                with torch.no_grad(): print(loss().item(), flush=True)
                continue
            s = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss().backward()
            opt.step()
            print((time.perf_counter() - s) * 1000, flush=True)
        """;
}
