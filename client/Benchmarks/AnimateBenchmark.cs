using System.Diagnostics;
using System.Globalization;
using GidCluster.Inference;
using GidCluster.Inference.Interactive;
using GidCluster.Inference.Models;
using GidCluster.Inference.Motion;
using GidCluster.Inference.Rendering;
using GidCluster.Inference.Sampling;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// <c>gid bench animate [--model DIR] [--config tiny|paper] [--size WxH] [--steps N] [--frames N] [--reps N]</c>: at 256×160 (paper: 256×192), seconds per
/// DDIM step (stage 2, classifier-free guidance batch), rendered frames per second (batches of 8, and one at a time
/// as the interactive page renders), and softmax splatting's time on the renderer's finest features versus the
/// same splatting written in python3-torch, on the same inputs (outputs compared) in the same run.
/// Without --model the networks are untrained (seeded): no trained checkpoint exists yet; cost does not depend on the weights.
/// </summary>
public sealed class AnimateBenchmark : IBenchmark
{
    public string Name => "animate";
    public string Description => "s per DDIM step, rendered fps at 256×160, softmax splatting vs python3-torch";

    public async Task<int> RunAsync(BenchContext context, CancellationToken cancel)
    {
        var args = context.Arguments;
        string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        var steps = int.Parse(Arg("--steps") ?? "5", CultureInfo.InvariantCulture);
        var frames = int.Parse(Arg("--frames") ?? "24", CultureInfo.InvariantCulture);
        var reps = int.Parse(Arg("--reps") ?? "7", CultureInfo.InvariantCulture);
        var modelDir = Arg("--model");
        if (modelDir is null)
        {
            var config = Arg("--config") ?? "tiny";
            // The paper config's VAE × U-Net down factor is 64, so 160 rows cannot be used: 256×192 is the nearest size.
            var size = (Arg("--size") ?? (config == "paper" ? "256x192" : "256x160")).Split('x');
            if (size.Length != 2) throw new ArgumentException($"--size {Arg("--size")}: expected WxH");
            var (width, height) = (int.Parse(size[0], CultureInfo.InvariantCulture), int.Parse(size[1], CultureInfo.InvariantCulture));
            modelDir = Path.Combine(context.ScratchDir, $"model-{config}-{width}x{height}");
            UntrainedModelFolder.Write(modelDir, ModelConfig.Load(config), width, height, seed: 1);
        }
        using var model = ModelBundle.Load(modelDir);
        var d = model.Description;
        Console.WriteLine($"model {modelDir}: {d.Config.Name} {d.LdmStage}, {d.Width}×{d.Height}; torch threads {get_num_threads()}");

        // 1. DDIM steps: the time between progress callbacks (the first step, which warms up, is left out).
        using var image = rand([1, 3, d.Height, d.Width], generator: new Generator(2));
        using var condition = image * 2 - 1;
        var stamps = new List<double>();
        var clock = Stopwatch.StartNew();
        using (var volumes = VolumeSampler.Sample(model, condition, new VolumeSampling(steps + 1, Seed: 3), (_, _) => stamps.Add(clock.Elapsed.TotalSeconds)))
        {
            var perStep = BenchReport.Median(stamps.Zip(stamps.Skip(1), (a, b) => b - a));
            Console.WriteLine($"DDIM: {perStep:0.000} s per step (median of {stamps.Count - 1}; K = {d.Config.Unet.Frequencies} slices, 2× batch for guidance)");

            // 2. Rendering: batches of 8 (gid animate) and single frames (gid interact).
            var volume = volumes;
            var times = Enumerable.Range(0, frames).Select(i => 1.0 + i).ToArray();
            Animator.Render(model, image, volume, times.Take(8).ToArray()).Dispose(); // warm-up
            clock.Restart();
            Animator.Render(model, image, volume, times).Dispose();
            var batchedFps = frames / clock.Elapsed.TotalSeconds;
            using var scene = new InteractiveScene(model, image, volume[0], 0.8);
            scene.Drag(d.Width / 2, d.Height / 2, 3, 1);
            var frameMs = new List<double>();
            for (var i = 0; i < frames; i++)
            {
                var started = Stopwatch.GetTimestamp();
                scene.Render();
                frameMs.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            var interactiveFps = 1000 / BenchReport.Median(frameMs.Skip(1));
            var uncachedFps = 1000 / UncachedFrameMs(model, image, volume, frames);
            Console.WriteLine($"render: {batchedFps:0.0} fps in batches of 8, {interactiveFps:0.0} fps one frame at a time (interactive, JPEG included); " +
                $"{uncachedFps:0.0} fps when each frame also re-encodes the picture's features (before the pyramid was cached), ratio {interactiveFps / uncachedFps:0.00}");

            // 3. Softmax splatting at the renderer's finest scale, ours vs python3-torch on the same inputs.
            var (ours, python, maxDiff) = await Splatting(context, d.Config.Renderer.Channels[0], d.Height, d.Width, reps, cancel);
            Console.WriteLine($"softmax splatting [1, {d.Config.Renderer.Channels[0]}, {d.Height}, {d.Width}]: ours {ours:0.00} ms, python3-torch {python:0.00} ms (median of {reps}); outputs differ by ≤ {maxDiff:G3}");
            BenchReport.Print(Name,
            [
                new BenchFigure("ddim_step", perStep, "s"),
                new BenchFigure("render_fps_batched", batchedFps, "frames/s"),
                new BenchFigure("render_fps_interactive", interactiveFps, "frames/s", uncachedFps, interactiveFps / uncachedFps, Goal: ">= 15"),
                new BenchFigure("softmax_splat", ours, "ms", python, ours / python),
                new BenchFigure("softmax_splat_max_abs_diff", maxDiff, ""),
            ], new Dictionary<string, string>
            {
                ["config"] = d.Config.Name,
                ["size"] = $"{d.Width}x{d.Height}",
                ["threads"] = get_num_threads().ToString(CultureInfo.InvariantCulture),
                ["load_average"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?",
            });
        }
        return 0;
    }

    /// <summary>
    /// The interactive frame as it was rendered before the feature pyramid was cached: the whole renderer (encoder
    /// included) per frame, then JPEG, one frame at a time; median ms. Run beside the cached path for a same-load ratio.
    /// </summary>
    private static double UncachedFrameMs(ModelBundle model, Tensor image, Tensor volume, int frames)
    {
        var d = model.Description;
        using var noGrad = no_grad();
        using var importance = MotionTexture.Importance(volume, d.PeriodFrames);
        var ms = new List<double>();
        for (var i = 0; i <= frames; i++)
        {
            using var scope = NewDisposeScope();
            var started = Stopwatch.GetTimestamp();
            var flow = MotionTexture.Displacements(volume, [1.0 + i], d.PeriodFrames)[0];
            var frame = model.Renderer.forward(image, flow, importance);
            Picture.Encode(".jpg", d.Width, d.Height, Picture.ToRgb(frame));
            if (i > 0) ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds); // the first is a warm-up
        }
        return BenchReport.Median(ms);
    }

    private static async Task<(double Ours, double Python, double MaxDiff)> Splatting(BenchContext context, long channels, int height, int width, int reps, CancellationToken cancel)
    {
        Directory.CreateDirectory(context.ScratchDir);
        var g = new Generator(7);
        using var features = randn([1, channels, height, width], generator: g);
        using var flow = randn([1, 2, height, width], generator: g) * 3;
        using var importance = rand([1, 1, height, width], generator: g);
        var files = new[] { "features", "flow", "importance" }.Select(n => Path.Combine(context.ScratchDir, n + ".f32")).ToArray();
        foreach (var (t, f) in new[] { features, flow, importance }.Zip(files))
            await File.WriteAllBytesAsync(f, t.data<float>().ToArray().SelectMany(BitConverter.GetBytes).ToArray(), cancel);
        var outFile = Path.Combine(context.ScratchDir, "python-out.f32");

        var times = new List<double>();
        Tensor? ours = null;
        using (no_grad())
        {
            for (var i = 0; i <= reps; i++)
            {
                ours?.Dispose();
                var started = Stopwatch.GetTimestamp();
                ours = SoftmaxSplatting.Splat(features, flow, importance);
                if (i > 0) times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds); // the first is a warm-up
            }
        }
        using var result = ours!;
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        string[] pyArgs = ["-c", PythonSplat, channels.ToString(CultureInfo.InvariantCulture), height.ToString(CultureInfo.InvariantCulture),
            width.ToString(CultureInfo.InvariantCulture), reps.ToString(CultureInfo.InvariantCulture), get_num_threads().ToString(CultureInfo.InvariantCulture), .. files, outFile];
        foreach (var a in pyArgs)
            start.ArgumentList.Add(a);
        using var python = Process.Start(start) ?? throw new InvalidOperationException("could not start python3");
        var stdout = await python.StandardOutput.ReadToEndAsync(cancel);
        var stderr = await python.StandardError.ReadToEndAsync(cancel);
        await python.WaitForExitAsync(cancel);
        if (python.ExitCode != 0) throw new InvalidOperationException($"python3 softmax splatting failed: {stderr}");
        var pyMs = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToList();
        var bytes = await File.ReadAllBytesAsync(outFile, cancel);
        var reference = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, reference, 0, bytes.Length);
        using var refTensor = tensor(reference, result.shape);
        var maxDiff = (result - refTensor).abs().max().item<float>();
        return (BenchReport.Median(times), BenchReport.Median(pyMs), maxDiff);
    }

    /// <summary>Softmax splatting (Niklaus and Liu) written independently in python3-torch: exp(W − max W)-weighted bilinear forward warp, normalised.</summary>
    private const string PythonSplat = """
        import sys, time, numpy as np, torch
        c, h, w, reps, threads = (int(a) for a in sys.argv[1:6])
        torch.set_num_threads(threads)
        load = lambda p, shape: torch.from_numpy(np.fromfile(p, dtype=np.float32).reshape(shape))
        feat, flow, imp = load(sys.argv[6], (1, c, h, w)), load(sys.argv[7], (1, 2, h, w)), load(sys.argv[8], (1, 1, h, w))
        def splat(feat, flow, imp):
            b = feat.shape[0]
            wgt = torch.exp(imp - imp.max())
            src = torch.cat([feat * wgt, wgt], 1).flatten(2)                      # [B, C+1, HW]
            gy, gx = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
            x, y = (gx + flow[:, 0]).flatten(1), (gy + flow[:, 1]).flatten(1)      # [B, HW]
            x0, y0 = torch.floor(x), torch.floor(y)
            out = torch.zeros(b, c + 1, h * w, dtype=feat.dtype)
            for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
                bil = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
                ok = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
                idx = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()
                val = src * (bil * ok).unsqueeze(1)
                out.scatter_add_(2, idx.unsqueeze(1).expand(-1, c + 1, -1), val)
            out = out.view(b, c + 1, h, w)
            den = out[:, c:]
            return out[:, :c] / torch.where(den > 0, den, torch.ones_like(den))
        with torch.no_grad():
            res = splat(feat, flow, imp)
            for _ in range(reps):
                t = time.perf_counter(); res = splat(feat, flow, imp); print((time.perf_counter() - t) * 1000)
        res.numpy().astype(np.float32).tofile(sys.argv[9])
        """;
}
