using System.Globalization;
using GidCluster.Inference;
using GidCluster.Inference.Models;
using GidCluster.Inference.Rendering;
using GidCluster.Inference.Sampling;
using GidCluster.Training.Models;
using Spectre.Console;
using static TorchSharp.torch;

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// <c>gid bench loop [--demo DIR | --model DIR --pictures DIR] [--count N] [--steps N] [--weight U] [--recurrence R] [--seconds S]</c>:
/// the loop error L_g (paper Eq. 5) of loop-guided spectral volumes against unguided ones from the same seeds and
/// the same DDIM steps, on a model the demo trained and its held-out pictures. The reference is the unguided
/// sample; the goal (issue 14) is a median ratio ≤ 0.1 at the defaults of <see cref="LoopOptions"/>.
/// </summary>
public sealed class LoopBenchmark : IBenchmark
{
    public string Name => "loop";
    public string Description => "loop error L_g with motion self-guidance vs unguided, same seeds (demo's model)";

    public Task<int> RunAsync(BenchContext context, CancellationToken cancel)
    {
        var args = context.Arguments;
        string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        double Number(string name, double fallback, double min) =>
            Arg(name) is not { } s ? fallback
            : double.TryParse(s, CultureInfo.InvariantCulture, out var v) && v >= min && double.IsFinite(v) ? v
            : throw new ArgumentException($"{name} {s}: must be a number ≥ {min}");
        var demo = Path.GetFullPath(Arg("--demo") ?? Path.Combine(context.RepoRoot, "demo-out"));
        var modelDir = Arg("--model") ?? Path.Combine(demo, "model");
        var picturesDir = Arg("--pictures") ?? Path.Combine(demo, "work", "corpus", "heldout");
        if (!File.Exists(Path.Combine(modelDir, "model.json")))
            throw new FileNotFoundException($"{modelDir}: no trained model here (model.json); run ./gid demo first, or pass --model DIR");
        if (!Directory.Exists(picturesDir))
            throw new DirectoryNotFoundException($"{picturesDir}: no held-out pictures here; run ./gid demo first, or pass --pictures DIR");
        var count = (int)Number("--count", 4, 1);
        var steps = (int)Number("--steps", LoopOptions.DefaultSteps, 1);
        var weight = Number("--weight", LoopOptions.DefaultWeight, 0);
        var recurrence = (int)Number("--recurrence", LoopOptions.DefaultRecurrence, 1);
        var clip = new AnimateOptions(Seconds: Number("--seconds", new AnimateOptions().Seconds, 0.1));
        var pictures = Directory.GetFiles(picturesDir, "*.png").Where(p => !p.EndsWith("_labels.png", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).Take(count).ToList();
        if (pictures.Count == 0)
            throw new FileNotFoundException($"{picturesDir}: no pictures (*.png) in this folder");

        using var model = ModelBundle.Load(modelDir);
        var d = model.Description;
        var frames = clip.SceneFrames(d.Fps);
        Console.WriteLine($"model {modelDir} ({d.LdmStage}, {d.Width}×{d.Height}); {pictures.Count} pictures from {picturesDir}; " +
            $"{steps} DDIM steps, loop of {frames} frames, u = {weight}, {recurrence} self-recurrence iterations; torch threads {get_num_threads()}");

        var unguided = new List<double>();
        var guided = new List<double>();
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                foreach (var (path, seed) in pictures.Select((p, i) => (p, (long)i)))
                {
                    cancel.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    using var image = Picture.Read(path, d.Width, d.Height).ToTensor();
                    var condition = image * 2 - 1;
                    double LoopError(string label, LoopOptions? loop)
                    {
                        var task = ctx.AddTask($"{Path.GetFileName(path)} {label}", maxValue: steps);
                        using var volume = VolumeSampler.Sample(model, condition, new VolumeSampling(steps, Seed: seed, Loop: loop), (done, _) => task.Value = done);
                        return MotionTexture.LoopLoss(volume, frames, d.PeriodFrames).item<float>();
                    }
                    unguided.Add(LoopError("unguided", null));
                    guided.Add(LoopError("loop-guided", new LoopOptions(frames, weight, recurrence, steps)));
                }
            });
        var ratios = guided.Zip(unguided, (g, u) => g / u).ToList();
        foreach (var (path, i) in pictures.Select((p, i) => (p, i)))
            Console.WriteLine($"{Path.GetFileName(path)}: L_g unguided {unguided[i]:G4}, guided {guided[i]:G4}, ratio {ratios[i]:0.000}");
        var ratio = BenchReport.Median(ratios);
        Console.WriteLine($"median ratio {ratio:0.000} (goal ≤ 0.1), worst {ratios.Max():0.000}");
        BenchReport.Print(Name,
        [
            new BenchFigure("loop_error", BenchReport.Median(guided), "px", BenchReport.Median(unguided), ratio, Goal: "<= 0.1"),
            new BenchFigure("loop_error_ratio_max", ratios.Max(), ""),
        ], new Dictionary<string, string>
        {
            ["model"] = modelDir,
            ["pictures"] = pictures.Count.ToString(CultureInfo.InvariantCulture),
            ["steps"] = steps.ToString(CultureInfo.InvariantCulture),
            ["weight"] = weight.ToString(CultureInfo.InvariantCulture),
            ["recurrence"] = recurrence.ToString(CultureInfo.InvariantCulture),
            ["frames"] = frames.ToString(CultureInfo.InvariantCulture),
        });
        return Task.FromResult(0);
    }
}
