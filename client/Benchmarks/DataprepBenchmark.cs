using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Samples;

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// <c>gid bench dataprep</c>: flows+FFT per second of our pipeline against
/// ../shared/bench/dataprep_reference.py (python3-opencv + numpy) on the same clip with the same
/// flow algorithm, parameters, sizes and thread count, run one after the other in this process;
/// then the peak RSS of <c>gid dataprep</c> on the 1080p clip (looped to have clips to process).
/// Arguments: [--video PATH] [--method dis-medium] [--threads 2] [--max-clips 4] (0 = every clip).
/// </summary>
public sealed class DataprepBenchmark : IBenchmark
{
    public string Name => "dataprep";
    public string Description => "flows+FFT/s vs dataprep_reference.py (same method, sizes, threads); peak RSS on the 1080p clip";

    private sealed class NullSink : ISampleSink
    {
        public void Write(Sample sample) { }
    }

    public async Task<int> RunAsync(BenchContext context, CancellationToken cancel)
    {
        var args = context.Arguments;
        string Arg(string name, string fallback)
        {
            var i = args.ToList().IndexOf(name);
            return i >= 0 && i + 1 < args.Count ? args[i + 1] : fallback;
        }
        var videos = Path.Combine(context.SharedRoot, "data", "videos");
        var video = Arg("--video", Path.Combine(videos, "turtle.mp4"));
        var method = Arg("--method", "dis-medium");
        var threads = int.Parse(Arg("--threads", "2"), CultureInfo.InvariantCulture);
        var maxClips = int.Parse(Arg("--max-clips", "4"), CultureInfo.InvariantCulture);
        var reference = Path.Combine(context.SharedRoot, "bench", "dataprep_reference.py");
        if (!File.Exists(video) || !File.Exists(reference))
        {
            Console.Error.WriteLine($"gid bench dataprep: needs {video} and {reference}");
            return 2;
        }

        // 1. Reference: the same work written with python3-opencv and numpy.
        Console.WriteLine($"reference: dataprep_reference.py {Path.GetFileName(video)} --method {method} --threads {threads}");
        var refArgs = new List<string> { reference, video, "--method", method, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--json" };
        if (maxClips > 0) refArgs.AddRange(["--max-clips", maxClips.ToString(CultureInfo.InvariantCulture)]);
        var refRun = await RunAsync("/usr/bin/python3", refArgs, TimeSpan.FromMinutes(20), cancel);
        if (refRun.Code != 0)
        {
            Console.Error.WriteLine($"reference failed: {refRun.Stderr}");
            return 1;
        }
        using var refJson = JsonDocument.Parse(refRun.Stdout.Trim().Split('\n').Last());
        var refFlows = refJson.RootElement.GetProperty("flows_per_s").GetDouble();
        var refClips = refJson.RootElement.GetProperty("clips").GetInt32();
        Console.WriteLine($"  {refFlows:0.0} flows/s, {refClips} clips in {refJson.RootElement.GetProperty("seconds").GetDouble():0.0} s");

        // 2. Ours: decode → resample → flow → DFT, the same flow setting, no extra backward flows
        //    (the reference has no consistency check), the same total thread count.
        var options = new DataprepOptions
        {
            Flow = FlowParams.Parse(method),
            ConsistencyStride = 0,
            Workers = threads,
            CvThreads = 1,
            MaxClips = maxClips,
        };
        Console.WriteLine($"ours: VideoDataprep.Process, {options.FlowDescription}, {threads} workers x 1 OpenCV thread");
        var clock = Stopwatch.StartNew();
        var report = VideoDataprep.Process(video, options, new NullSink(), cancel: cancel);
        var seconds = clock.Elapsed.TotalSeconds;
        if (report.Status != VideoStatus.Ok)
        {
            Console.Error.WriteLine($"our pipeline failed on {video}: {report.Reason}");
            return 1;
        }
        var ourFlows = report.Flows / seconds;
        Console.WriteLine($"  {ourFlows:0.0} flows/s, {report.Samples} clips in {seconds:0.0} s");

        // 3. Peak RSS of the real command on the 1080p clip, looped (stream copy) so it has clips.
        var beach = Path.Combine(videos, "beach_waves.mp4");
        var looped = Path.Combine(context.ScratchDir, "beach_waves_x3.mp4");
        var ff = await RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "2", "-i", beach, "-an", "-c:v", "copy", looped], TimeSpan.FromMinutes(2), cancel);
        if (ff.Code != 0)
        {
            Console.Error.WriteLine($"ffmpeg could not loop {beach}: {ff.Stderr}");
            return 1;
        }
        var outDir = Path.Combine(context.ScratchDir, "rss");
        var gid = Path.Combine(AppContext.BaseDirectory, "gid.dll");
        Console.WriteLine($"peak RSS: gid dataprep {Path.GetFileName(looped)} (1920x1080, 255 frames) --max-clips 3");
        var child = await RunAsync("dotnet", [gid, "dataprep", looped, "--out", outDir, "--max-clips", "3"], TimeSpan.FromMinutes(20), cancel);
        if (child.Code != 0)
        {
            Console.Error.WriteLine($"gid dataprep failed: {child.Stdout}{child.Stderr}");
            return 1;
        }
        using var status = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, DataprepRun.VideosFile)));
        var rss = status.RootElement.GetProperty("peak_rss_mb").GetDouble();
        var rssSamples = status.RootElement.GetProperty("videos")[0].GetProperty("samples").GetInt32();
        Console.WriteLine($"  peak RSS {rss:0} MB ({rssSamples} clips)");

        BenchReport.Print(Name,
        [
            new BenchFigure("flows_fft_per_s", Math.Round(ourFlows, 1), "flows/s", Math.Round(refFlows, 1), Math.Round(ourFlows / refFlows, 3), "ratio >= 1.3"),
            new BenchFigure("peak_rss_1080p", Math.Round(rss), "MB", Goal: "<= 1024"),
        ], new Dictionary<string, string>
        {
            ["video"] = Path.GetFileName(video),
            ["method"] = method,
            ["threads"] = threads.ToString(CultureInfo.InvariantCulture),
            ["clips"] = $"{report.Samples} ours, {refClips} reference",
            ["size"] = $"{options.Width}x{options.Height}",
        });
        return 0;
    }

    internal static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan limit, CancellationToken cancel)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancel);
        var stderr = process.StandardError.ReadToEndAsync(cancel);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish within {limit}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
