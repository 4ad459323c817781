using System.CommandLine;
using GidCluster.Inference;
using GidCluster.Inference.Models;
using GidCluster.Inference.Rendering;
using GidCluster.Inference.Sampling;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid animate IMAGE… --model RUN_OR_DIR --out FILE</c>: each picture → spectral volume → rendered video, plus its
/// X-t slice and the volume's amplitude image beside it. Several pictures (or folders of them) write into
/// <c>--out</c> as a folder.
/// </summary>
public static class AnimateCommand
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"];

    public static Command Create()
    {
        var inputs = new Argument<string[]>("images") { Description = "Pictures, or folders of pictures (png, jpg, …).", Arity = ArgumentArity.OneOrMore };
        var model = ModelSource.Option();
        var renderer = ModelSource.RendererOption();
        var output = new Option<string>("--out") { Description = "The video (.mp4 or .gif) for one picture; a folder for several (and with --on-cluster).", Required = true };
        var loop = new Option<bool>("--loop") { Description = "A seamless loop (motion self-guidance, paper Eq. 5)." };
        var seconds = new Option<double>("--seconds") { Description = "Scene time to show (the loop's length with --loop).", DefaultValueFactory = _ => 149 / 30.0 };
        var slowmo = new Option<double>("--slowmo") { Description = "Slow-motion factor (frames in between from the motion texture).", DefaultValueFactory = _ => 1 };
        var magnify = new Option<double>("--magnify") { Description = "Motion amplitude factor (<1 minifies).", DefaultValueFactory = _ => 1 };
        var seed = new Option<long>("--seed") { Description = "Sampling seed: the same seed gives the same motion.", DefaultValueFactory = _ => 0 };
        var steps = new Option<int>("--steps") { Description = "DDIM steps (500 with --loop unless given).", DefaultValueFactory = _ => 250 };
        var guidance = new Option<double>("--guidance") { Description = "Classifier-free guidance weight w.", DefaultValueFactory = _ => 1.75 };
        var loopWeight = new Option<double>("--loop-weight") { Description = "Self-guidance weight u for --loop.", DefaultValueFactory = _ => LoopOptions.DefaultWeight };
        var recurrence = new Option<int>("--recurrence") { Description = "Self-recurrence iterations per step for --loop (the paper's 2 measured worse here; see README).", DefaultValueFactory = _ => LoopOptions.DefaultRecurrence };
        var format = new Option<string>("--format") { Description = "Video format when --out is a folder: mp4 or gif.", DefaultValueFactory = _ => "mp4" };
        var scanline = new Option<int?>("--scanline") { Description = "Row of the X-t slice (default: the middle row)." };
        var onCluster = new Option<bool>("--on-cluster")
        {
            Description = "Animate as a job on the cluster: one grain per picture over the worker silos (the pictures must be paths the silos can read); the results are downloaded into --out.",
        };
        var command = new Command("animate", "Animate still pictures with a trained model: MP4/GIF, X-t slice, spectral-volume image.")
        {
            inputs, model, renderer, output, loop, seconds, slowmo, magnify, seed, steps, guidance, loopWeight, recurrence, format, scanline, onCluster,
        };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction(async (parse, cancel) =>
        {
            var pictures = ExpandInputs(parse.GetValue(inputs)!);
            var stepsGiven = parse.GetResult(steps) is { Implicit: false };
            var options = new AnimateOptions(parse.GetValue(seconds), parse.GetValue(slowmo), parse.GetValue(magnify), parse.GetValue(seed), parse.GetValue(loop),
                parse.GetValue(steps), parse.GetValue(guidance), parse.GetValue(loopWeight),
                stepsGiven ? parse.GetValue(steps) : LoopOptions.DefaultSteps, parse.GetValue(recurrence));
            options.Validate();
            var fmt = parse.GetValue(format)!.ToLowerInvariant();
            if (fmt is not ("mp4" or "gif")) throw new ArgumentException($"--format {fmt}: must be mp4 or gif");
            var outPath = Path.GetFullPath(parse.GetValue(output)!);
            var batch = pictures.Count > 1 || parse.GetValue(inputs)!.Any(Directory.Exists) || parse.GetValue(onCluster);
            if (!batch && Path.GetExtension(outPath).ToLowerInvariant() is not (".mp4" or ".gif"))
                throw new ArgumentException($"--out {outPath}: the video must end in .mp4 or .gif (or give several pictures and a folder)");
            var modelDir = await ModelSource.ResolveAsync(parse.GetValue(model)!, parse.GetValue(renderer), parse.GetValue(cluster), cancel);
            using var bundle = ModelBundle.Load(modelDir);
            var d = bundle.Description;
            Console.WriteLine($"model {Path.GetFullPath(modelDir)}: {d.Config.Name}, {d.LdmStage}, {d.Width}×{d.Height} at {d.Fps:0.##} fps; " +
                              $"{(options.Loop ? $"loop of {options.SceneFrames(d.Fps)} frames, {options.LoopSteps} steps, u={options.LoopWeight}, recurrence {options.LoopRecurrence}" : $"{options.Steps} DDIM steps")}, w={options.Guidance}, seed {options.Seed}");
            var row = parse.GetValue(scanline) ?? d.Height / 2;
            if (row < 0 || row >= d.Height) throw new ArgumentException($"--scanline {row}: must be 0…{d.Height - 1}");
            if (parse.GetValue(onCluster))
                return await AnimateJob.RunAsync(parse.GetValue(cluster), modelDir, pictures, outPath, fmt, options, stepsGiven, parse.GetValue(scanline), cancel);
            if (batch) Directory.CreateDirectory(outPath);
            var failed = 0;
            foreach (var path in pictures)
            {
                var video = batch ? Path.Combine(outPath, Path.GetFileNameWithoutExtension(path) + "." + fmt) : outPath;
                try
                {
                    AnimateOne(bundle, path, video, options, row);
                }
                catch (Exception e) when (batch && UserErrors.IsUserInput(e))
                {
                    // In a batch one bad picture is reported and skipped; the others go on.
                    Console.Error.WriteLine($"gid animate: {e.Message}");
                    failed++;
                }
            }
            if (batch) Console.WriteLine($"{pictures.Count - failed} of {pictures.Count} pictures animated into {outPath}");
            return failed > 0 ? UserErrors.ExitCode : 0;
        });
        return command;
    }

    private static void AnimateOne(ModelBundle bundle, string path, string video, AnimateOptions options, int row)
    {
        var d = bundle.Description;
        var picture = Picture.Read(path, d.Width, d.Height);
        if (picture.Note is not null) Console.WriteLine(picture.Note);
        Directory.CreateDirectory(Path.GetDirectoryName(video)!);
        using var result = AnimateWithProgress(bundle, picture, options, Path.GetFileName(path), keepBars: true);
        MediaFiles.WriteVideo(video, result.Width, result.Height, result.Fps, result.Frames);
        var stem = Path.Combine(Path.GetDirectoryName(video)!, Path.GetFileNameWithoutExtension(video));
        MediaFiles.WriteXtSlice(stem + ".xt.png", result.Width, result.Height, result.Frames, row);
        MediaFiles.WriteSpectrumImage(stem + ".spectrum.png", result.Volume, d.FrequenciesHz);
        Console.WriteLine($"wrote {video} ({result.FrameCount} frames at {result.Fps:0.##} fps), {stem}.xt.png (row {row}), {stem}.spectrum.png");
    }

    /// <summary>Animates one picture with a progress bar for each phase (sampling, rendering) labelled <paramref name="label"/>.</summary>
    internal static Animation AnimateWithProgress(ModelBundle bundle, Picture picture, AnimateOptions options, string label, bool keepBars)
    {
        Animation? animation = null;
        AnsiConsole.Progress()
            .AutoClear(!keepBars)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var sampling = ctx.AddTask($"{label}: sampling", maxValue: 1);
                var rendering = ctx.AddTask($"{label}: rendering", maxValue: 1);
                animation = Animator.Animate(bundle, picture, options, (phase, done, total) =>
                {
                    var task = phase == "sampling" ? sampling : rendering;
                    task.MaxValue = total;
                    task.Value = done;
                });
            });
        return animation!;
    }

    /// <summary>Files as given (each must exist), folders expanded to their pictures, in name order.</summary>
    private static List<string> ExpandInputs(IEnumerable<string> inputs)
    {
        var list = new List<string>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                var found = Directory.GetFiles(input).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0) throw new FileNotFoundException($"{input}: no pictures ({string.Join(", ", ImageExtensions)}) in this folder");
                list.AddRange(found);
            }
            else if (File.Exists(input))
            {
                list.Add(input);
            }
            else
            {
                throw new FileNotFoundException($"image {input} does not exist", input);
            }
        }
        return list;
    }
}
