using System.CommandLine;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Shards;
using Spectre.Console;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid dataprep VIDEO_OR_DIR... --out DIR</c>: videos → flow → spectral volumes on this
/// machine, with a progress bar. Writes the per-video status table, the merged statistics and
/// the power spectrum into DIR, and the samples as Parquet shards with <c>manifest.json</c>
/// (<see cref="DatasetWriter"/>).
/// </summary>
public static class DataprepCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("inputs") { Description = "Video files and/or folders of videos.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Output folder.", Required = true };
        var method = new Option<string>("--method") { Description = "Flow: dis-ultrafast|dis-fast|dis-medium[,vr=N][,fs=N]|farneback|deepflow|tvl1.", DefaultValueFactory = _ => "dis-medium,fs=0" };
        var flowSize = new Option<string>("--flow-size") { Description = "Flow resolution WxH (output stays 256x160).", DefaultValueFactory = _ => "256x160" };
        var stride = new Option<int>("--stride") { Description = "Start frame every N frames.", DefaultValueFactory = _ => 10 };
        var maxClips = new Option<int>("--max-clips") { Description = "At most N clips per video (0 = all).", DefaultValueFactory = _ => 0 };
        var workers = new Option<int>("--workers") { Description = "Parallel flow workers.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var fbStride = new Option<int>("--fb-stride") { Description = "Forward-backward check every n-th t (0 = off).", DefaultValueFactory = _ => 10 };
        var command = new Command("dataprep", "Turn videos into spectral-volume samples (flow, DFT, statistics) with a progress bar.")
        {
            inputs, output, method, flowSize, stride, maxClips, workers, fbStride,
        };
        command.SetAction((parse, cancel) =>
        {
            // Bad option values throw ArgumentException/FormatException: Program.cs reports them in one line (exit 2).
            var size = parse.GetValue(flowSize)!.Split('x');
            if (size.Length != 2 || !int.TryParse(size[0], out var flowWidth) || !int.TryParse(size[1], out var flowHeight))
                throw new FormatException($"--flow-size '{parse.GetValue(flowSize)}': expected WxH, like 256x160");
            var options = new DataprepOptions
            {
                Flow = FlowParams.Parse(parse.GetValue(method)!),
                FlowWidth = flowWidth,
                FlowHeight = flowHeight,
                StartStride = parse.GetValue(stride),
                MaxClips = parse.GetValue(maxClips),
                Workers = parse.GetValue(workers),
                ConsistencyStride = parse.GetValue(fbStride),
            };
            options.Validate();
            options = DatasetWriter.WithSplit(options);
            var outDir = Path.GetFullPath(parse.GetValue(output)!);
            var videos = DataprepRun.ExpandInputs(parse.GetValue(inputs)!);
            if (videos.Count == 0)
            {
                Console.Error.WriteLine("gid dataprep: no video files in the inputs given");
                return Task.FromResult(2);
            }
            var run = new DataprepRun(options, outDir);
            using var dataset = new DatasetWriter(outDir);
            var started = DateTime.UtcNow;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var videoTask = ctx.AddTask($"videos 0/{videos.Count}", maxValue: videos.Count);
                    var clipTask = ctx.AddTask("clips 0", maxValue: 1);
                    long flowsBefore = 0;
                    var clipsBefore = 0;
                    var progress = new SyncProgress(p =>
                    {
                        var seconds = Math.Max(1e-3, (DateTime.UtcNow - started).TotalSeconds);
                        var flows = flowsBefore + p.Flows;
                        clipTask.Description = $"clips {clipsBefore + p.Clips} · {p.VideoId}: {p.Frames} frames · {flows / seconds:0.0} flows/s";
                        clipTask.Value = p.Clips;
                    });
                    run.Run(videos, dataset,
                        onVideoStart: v =>
                        {
                            clipTask.Value = 0;
                            clipTask.MaxValue = 1;
                            clipTask.Description = $"clips {clipsBefore} · {Path.GetFileName(v)}";
                        },
                        progress: progress,
                        onVideoDone: r =>
                        {
                            flowsBefore += r.Flows;
                            clipsBefore += r.Samples;
                            videoTask.Increment(1);
                            videoTask.Description = $"videos {run.Reports.Count}/{videos.Count}";
                            clipTask.MaxValue = Math.Max(1, r.Samples);
                            clipTask.Value = clipTask.MaxValue;
                        },
                        cancel: cancel);
                });
            var shards = dataset.CompleteShards();
            PrintReport(run, outDir, DateTime.UtcNow - started);
            var manifest = DatasetWriter.CreateManifest(shards, run.Reports.Select(r => new VideoSketch(r.VideoId, r.Sketch)).ToList(), options, DateTimeOffset.UtcNow);
            // A manifest without usable scales would only fail later, in a trainer: refuse it now (the run files above stay).
            if (NormalizationProblem(manifest, run) is { } problem)
            {
                Console.Error.WriteLine($"gid dataprep: {problem}; not writing {ManifestFile.FileName} (per-video statuses are in {Path.Combine(outDir, DataprepRun.VideosFile)})");
                return Task.FromResult(2);
            }
            ManifestFile.Write(outDir, manifest);
            Console.WriteLine($"wrote {manifest.Shards.Count} shard(s), {manifest.TotalRows} samples ({manifest.Split.TrainVideos.Count} train / {manifest.Split.TestVideos.Count} test videos) and {ManifestFile.FileName}");
            return Task.FromResult(run.Reports.Any(r => r.Status != VideoStatus.Error) ? 0 : 1);
        });
        return command;
    }

    /// <summary>Why the dataset cannot be normalized (no samples, or a bin without motion), or null.</summary>
    private static string? NormalizationProblem(DatasetManifest manifest, DataprepRun run)
    {
        if (manifest.TotalRows == 0)
            return $"the {run.Reports.Count} input video(s) yielded no sample ({string.Join(", ", run.Reports.GroupBy(r => r.StatusText).Select(g => $"{g.Count()} {g.Key}"))})";
        if (manifest.Normalization is null)
            return $"the samples' normalization scales s_k are not all positive ({string.Join(" ", run.Sketch.Scales())}): the videos hold no motion in some frequency bin";
        return null;
    }

    private static void PrintReport(DataprepRun run, string outDir, TimeSpan elapsed)
    {
        var table = new Table().AddColumns("video", "status", "samples", "flagged", "frames@30", "source", "mean |F| px", "max |F| px", "FB-inconsistent", "reason / notes");
        foreach (var r in run.Reports)
        {
            var color = r.Status switch { VideoStatus.Ok => "green", VideoStatus.NoClips => "yellow", _ => "red" };
            table.AddRow(
                Markup.Escape(r.VideoId), $"[{color}]{r.StatusText}[/]", $"{r.Samples}", $"{r.FlaggedSamples}", $"{r.ResampledFrames}",
                r.SourceWidth > 0 ? $"{r.SourceWidth}x{r.SourceHeight}@{r.SourceFps:0.##}" : "-",
                r.Samples > 0 ? $"{r.MeanDisplacement:0.00}" : "-", r.Samples > 0 ? $"{r.MaxDisplacement:0.0}" : "-",
                r.Samples > 0 ? $"{r.MeanInconsistentFraction:P1}" : "-",
                Markup.Escape(string.Join("; ", new[] { r.Reason }.Concat(r.Notes))));
        }
        AnsiConsole.Write(table);
        var flows = run.Reports.Sum(r => r.Flows);
        var scales = run.Sketch.Scales();
        Console.WriteLine($"{run.Reports.Count} videos, {run.Reports.Sum(r => r.Samples)} samples, {flows} flows in {elapsed.TotalSeconds:0.0} s ({flows / Math.Max(1e-3, elapsed.TotalSeconds):0.0} flows/s); peak RSS {DataprepRun.PeakRssMegabytes():0} MB");
        Console.WriteLine($"scales s_k (95th percentile of |S|): {string.Join(" ", scales.Select(s => s.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"wrote {DataprepRun.VideosFile}, {DataprepRun.StatisticsFile}, {DataprepRun.SpectrumFile}, {DataprepRun.SamplesFile} in {outDir}");
    }

    /// <summary>Calls back on the reporting thread (Progress&lt;T&gt; would post to the thread pool and reorder updates).</summary>
    private sealed class SyncProgress(Action<DataprepProgress> report) : IProgress<DataprepProgress>
    {
        public void Report(DataprepProgress value) => report(value);
    }
}
