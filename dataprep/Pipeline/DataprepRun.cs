using System.Text.Json;
using System.Text.Json.Serialization;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Statistics;

namespace GidCluster.Dataprep.Pipeline;

/// <summary>
/// Runs <see cref="VideoDataprep"/> over many videos on one machine and writes the output
/// folder's run files: <c>videos.json</c> (per-video status), <c>statistics.json</c> (merged
/// sketch and scales s_k), <c>spectrum.json</c> (average power per bin) and <c>samples.jsonl</c>
/// (per-sample metadata and quality). Samples themselves go to the caller's
/// <see cref="ISampleSink"/> (the shard writer).
/// </summary>
public sealed class DataprepRun(DataprepOptions options, string outputDir)
{
    public const string VideosFile = "videos.json";
    public const string StatisticsFile = "statistics.json";
    public const string SpectrumFile = "spectrum.json";
    public const string SamplesFile = "samples.jsonl";

    private static readonly string[] VideoExtensions = [".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv"];
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public PercentileSketch Sketch { get; } = new(options.Bins);
    public PowerSpectrum Spectrum { get; } = new(options.Bins, options.Fps, options.ClipFrames);
    public List<VideoReport> Reports { get; } = [];

    /// <summary>Expands directories (their video files, sorted) and keeps files as given, so a bad file named directly is reported too.</summary>
    public static List<string> ExpandInputs(IEnumerable<string> inputs)
    {
        var result = new List<string>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                result.AddRange(Directory.EnumerateFiles(input)
                    .Where(f => VideoExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .OrderBy(f => f, StringComparer.Ordinal));
            }
            else
            {
                result.Add(input);
            }
        }
        return result;
    }

    /// <summary>Processes every video (one after another; each uses all workers), then writes the run files.</summary>
    public void Run(IReadOnlyList<string> videos, ISampleSink? sink = null, Action<string>? onVideoStart = null,
        IProgress<DataprepProgress>? progress = null, Action<VideoReport>? onVideoDone = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(outputDir);
        using var samples = new StreamWriter(Path.Combine(outputDir, SamplesFile));
        var metadata = new SampleMetadataSink(samples);
        var all = sink == null ? new SampleSinks(Spectrum, metadata) : new SampleSinks(Spectrum, metadata, sink);
        var ids = new HashSet<string>();
        foreach (var video in videos)
        {
            cancel.ThrowIfCancellationRequested();
            onVideoStart?.Invoke(video);
            // Same file name in two folders: keep ids unique within a run.
            var id = VideoDataprep.VideoIdOf(video);
            for (var i = 2; !ids.Add(id); i++)
                id = $"{VideoDataprep.VideoIdOf(video)}-{i}";
            VideoReport report;
            try
            {
                report = VideoDataprep.Process(video, options, all, progress, id, cancel);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Whatever else goes wrong with one video must not stop the others.
                report = VideoReport.Failed(video, id, $"{e.GetType().Name}: {e.Message}", options.Bins);
            }
            Sketch.Merge(report.Sketch);
            Reports.Add(report);
            onVideoDone?.Invoke(report);
            samples.Flush();
        }
        WriteRunFiles();
    }

    private void WriteRunFiles()
    {
        var videos = Reports.Select(r => new
        {
            path = r.Path,
            video_id = r.VideoId,
            status = r.StatusText,
            reason = r.Reason,
            samples = r.Samples,
            flagged_samples = r.FlaggedSamples,
            decoded_frames = r.DecodedFrames,
            frames_at_target_fps = r.ResampledFrames,
            source_fps = r.SourceFps,
            source_size = $"{r.SourceWidth}x{r.SourceHeight}",
            notes = r.Notes,
            mean_displacement_px = r.MeanDisplacement,
            max_displacement_px = r.MaxDisplacement,
            mean_inconsistent_fraction = r.MeanInconsistentFraction,
            flows = r.Flows,
            seconds = r.Elapsed.TotalSeconds,
        });
        File.WriteAllText(Path.Combine(outputDir, VideosFile), JsonSerializer.Serialize(new
        {
            config = new { options.Width, options.Height, options.FlowWidth, options.FlowHeight, options.Fps, options.ClipFrames, options.Bins, options.StartStride, flow = options.FlowDescription, options.ConsistencyStride, options.TargetOffsets },
            peak_rss_mb = PeakRssMegabytes(),
            videos,
        }, Indented));
        File.WriteAllText(Path.Combine(outputDir, StatisticsFile), JsonSerializer.Serialize(new StatisticsDocument(
            0.95, Sketch.Scales(), PercentileSketch.RelativeErrorBound, JsonDocument.Parse(Sketch.ToJson()).RootElement), Indented));
        File.WriteAllText(Path.Combine(outputDir, SpectrumFile), Spectrum.ToJson());
    }

    /// <summary>This process's peak resident set (VmHWM) in MB, or −1 where /proc is unavailable.</summary>
    public static double PeakRssMegabytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
            }
        }
        catch (IOException) { }
        return -1;
    }

    /// <summary>Contents of <c>statistics.json</c>: the scales s_k and the mergeable sketch they came from.</summary>
    public sealed record StatisticsDocument(
        [property: JsonPropertyName("quantile")] double Quantile,
        [property: JsonPropertyName("scales")] float[] Scales,
        [property: JsonPropertyName("relative_error_bound")] double RelativeErrorBound,
        [property: JsonPropertyName("sketch")] JsonElement Sketch);

    /// <summary>One JSON line per sample: identity and quality, no pixel data.</summary>
    private sealed class SampleMetadataSink(StreamWriter writer) : ISampleSink
    {
        public void Write(Sample s) => writer.WriteLine(JsonSerializer.Serialize(new
        {
            video_id = s.VideoId,
            start_frame = s.StartFrame,
            flow_method = s.FlowMethod,
            split = s.Split,
            quality = new
            {
                mean_displacement = s.Quality.MeanDisplacement,
                max_displacement = s.Quality.MaxDisplacement,
                inconsistent_fraction = s.Quality.InconsistentFraction,
                flags = s.Quality.Flags,
            },
        }));
    }
}
