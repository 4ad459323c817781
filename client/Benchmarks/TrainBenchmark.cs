using System.Diagnostics;
using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;
using GidCluster.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// <c>gid bench train [STEPS]</c>: the training step of each stage with the <c>tiny</c> config on CPU (loss, backward,
/// AdamW step, on random batches of the trainer's shapes: 64×32 frames, batch 2, 16 bins) as samples/s, and the
/// checkpoint's save and load time and size. The stage-1 step against the identical model in python3-torch is not
/// built (there is no Python replica of our U-Net yet), so this benchmark has no reference ratio.
/// </summary>
public sealed class TrainBenchmark : IBenchmark
{
    public string Name => "train";

    public string Description => "Training samples/s per stage (tiny, CPU) and checkpoint save/load time and size.";

    public Task<int> RunAsync(BenchContext context, CancellationToken cancel)
    {
        var steps = context.Arguments.Count > 0 ? int.Parse(context.Arguments[0], System.Globalization.CultureInfo.InvariantCulture) : 10;
        if (steps < 2) throw new ArgumentException($"steps {steps} must be at least 2 (the first is warm-up)");
        const int batch = 2;
        var config = ModelConfig.Load("tiny");
        manual_seed(1);
        using var images = rand([batch, 3, 32, 64]) * 2 - 1;
        using var volumes = randn([batch, 16, 4, 32, 64]);
        using var vae = new AutoencoderKL(config.Vae);
        using var frozen = new AutoencoderKL(config.Vae);
        foreach (var p in frozen.parameters()) p.requires_grad = false;
        using var schedule = new NoiseSchedule(config.Unet);
        using var unet = new UNet(config.Unet);
        using var stage2 = new FrequencyCoordinatedUNet(new UNet(config.Unet), config.Stage2);
        var figures = new List<BenchFigure>();
        var stages = new (string Name, nn.Module Model, Func<Generator, Tensor> Loss)[]
        {
            ("vae", vae, g => StageLosses.Vae(vae, volumes, g)),
            ("ldm1", unet, g => StageLosses.Stage1(unet, schedule, frozen, images, volumes, g)),
            ("ldm2", stage2, g => StageLosses.Stage2(stage2, schedule, frozen, images, volumes, g)),
        };
        foreach (var (name, model, loss) in stages)
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
                    loss(g).backward();
                    optimizer.step();
                }
                if (i > 0) times.Add(clock.Elapsed.TotalSeconds); // the first step allocates
            }
            var median = BenchReport.Median(times);
            Console.WriteLine($"{name}: {median * 1000:F0} ms per step of {batch} samples (median of {times.Count}) = {batch / median:F2} samples/s");
            figures.Add(new BenchFigure($"{name}_samples_per_s", batch / median, "samples/s"));
        }

        // Checkpoint of the stage-1 U-Net with its AdamW state.
        using (var optimizer = optim.AdamW(unet.parameters(), lr: 1e-4))
        {
            using (var scope = NewDisposeScope())
            using (var g = new Generator(1))
            {
                StageLosses.Stage1(unet, schedule, frozen, images, volumes, g).backward();
                optimizer.step(); // so the optimizer has state to save
            }
            var path = Path.Combine(context.ScratchDir, "ldm.pt");
            var save = Stopwatch.StartNew();
            TrainingCheckpoint.Save(path, unet, optimizer, new TrainingPosition(1, 0, 1));
            var saveMs = save.Elapsed.TotalMilliseconds;
            var load = Stopwatch.StartNew();
            TrainingCheckpoint.Load(path, unet, optimizer);
            var loadMs = load.Elapsed.TotalMilliseconds;
            var size = new FileInfo(path).Length;
            Console.WriteLine($"checkpoint (stage-1 U-Net + AdamW state): {size / 1e6:F2} MB, save {saveMs:F0} ms, load {loadMs:F0} ms");
            figures.Add(new BenchFigure("checkpoint_save_ms", saveMs, "ms"));
            figures.Add(new BenchFigure("checkpoint_load_ms", loadMs, "ms"));
            figures.Add(new BenchFigure("checkpoint_size_mb", size / 1e6, "MB"));
        }
        Console.WriteLine("stage-1 step against python3-torch: not built (no Python replica of this U-Net yet)");
        BenchReport.Print(Name, figures, new Dictionary<string, string> { ["threads"] = get_num_threads().ToString(System.Globalization.CultureInfo.InvariantCulture) });
        return Task.FromResult(0);
    }
}
