using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using GidCluster.Contracts;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Shards;
using GidCluster.Dataprep.Statistics;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;

namespace GidCluster.Silo.Ingestion;

/// <summary>
/// The <c>dataprep</c> ingestion pipeline: each video grain runs <see cref="VideoDataprep"/> over
/// its video and uploads that video's Parquet shards under the grain's output prefix
/// (<c>datasets/NAME/videos/ID/shard-00000.parquet</c>, …); the merge grain writes
/// <c>manifest.json</c> (through <see cref="DatasetWriter.CreateManifest"/>, the same code as
/// <c>gid dataprep</c>), <c>videos.json</c> and <c>spectrum.json</c>, and puts the spectrum into the
/// job result for the dashboard.
///
/// Everything written is a function of the videos and the settings: one flow thread per grain
/// (the cluster's parallelism is the grains), so floating-point sums never depend on the machine's
/// core count, and the manifest's <c>created_utc</c> is the Unix epoch, not the merge time. A
/// re-run grain therefore overwrites the same names with the same bytes.
/// </summary>
public static class DataprepPipeline
{
    public const string Name = "dataprep";

    /// <summary>Environment variable bounding clips per video (0 or unset = all); tests and benchmarks use it, and the manifest records it.</summary>
    public const string MaxClipsVariable = "GID_DATAPREP_MAX_CLIPS";

    public static void Register() => IngestionPipelines.Register(Name, () =>
    {
        var options = Options();
        return new IngestionPipeline(Name,
            "dataprep: flow, spectral volumes and Parquet shards per video; merged sketch, scales and manifest.json",
            new DataprepVideoProcessor(options), new DataprepMerge(options));
    });

    public static DataprepOptions Options()
    {
        var maxClips = 0;
        if (Environment.GetEnvironmentVariable(MaxClipsVariable) is { Length: > 0 } text
            && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out maxClips) || maxClips < 0))
            throw new InvalidOperationException($"{MaxClipsVariable}='{text}' is not a non-negative integer");
        var options = DatasetWriter.WithSplit(new DataprepOptions { Workers = 1, CvThreads = 1, MaxClips = maxClips });
        options.Validate();
        return options;
    }
}

/// <summary>What a dataprep video grain records besides its shards (carried in <see cref="VideoResult.Sketch"/> as UTF-8 JSON; kept in the blob store as the video's statistics.sketch).</summary>
public sealed record DataprepVideoStatistics(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("samples")] int Samples,
    [property: JsonPropertyName("flagged_samples")] int FlaggedSamples,
    [property: JsonPropertyName("decoded_frames")] int DecodedFrames,
    [property: JsonPropertyName("frames_at_target_fps")] int ResampledFrames,
    [property: JsonPropertyName("source_fps")] double SourceFps,
    [property: JsonPropertyName("source_size")] string SourceSize,
    [property: JsonPropertyName("notes")] IReadOnlyList<string> Notes,
    [property: JsonPropertyName("mean_displacement_px")] double MeanDisplacement,
    [property: JsonPropertyName("max_displacement_px")] double MaxDisplacement,
    [property: JsonPropertyName("mean_inconsistent_fraction")] double MeanInconsistentFraction,
    [property: JsonPropertyName("sketch")] JsonElement Sketch,
    [property: JsonPropertyName("spectrum")] JsonElement Spectrum)
{
    public static DataprepVideoStatistics Decode(string videoId, byte[] bytes)
    {
        try
        {
            return JsonSerializer.Deserialize<DataprepVideoStatistics>(bytes) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"video '{videoId}': its result is not a dataprep result ({e.Message}); was it made by another pipeline?", e);
        }
    }
}

/// <summary>Per-video step: dataprep into a temporary folder, then the shards into the blob store.</summary>
public sealed class DataprepVideoProcessor(DataprepOptions options) : IVideoProcessor
{
    public async Task<VideoResult> ProcessAsync(VideoWork work, IBlobStore output, CancellationToken cancel)
    {
        var temp = Directory.CreateTempSubdirectory("gid-dataprep-");
        try
        {
            var spectrum = new PowerSpectrum(options.Bins, options.Fps, options.ClipFrames);
            VideoReport report;
            IReadOnlyList<ShardInfo> shards;
            using (var writer = new DatasetWriter(temp.FullName))
            {
                // Dataprep is CPU-bound and synchronous; keep it off the worker loop's thread.
                report = await Task.Run(() => VideoDataprep.Process(work.VideoUri, options, new SampleSinks(spectrum, writer), null, work.VideoId, cancel), cancel);
                shards = writer.CompleteShards();
            }
            var blobs = new List<OutputBlob>();
            foreach (var shard in shards)
            {
                var path = $"{work.OutputPrefix}/{shard.Path}";
                await using (var file = File.OpenRead(Path.Combine(temp.FullName, shard.Path)))
                {
                    var info = await output.PutAsync(path, file, cancel);
                    if (info.Size != shard.Bytes || (info.Sha256 != null && info.Sha256 != shard.Sha256))
                        throw new IOException($"blob {path} was stored as {info.Size} bytes / sha256 {info.Sha256}, written as {shard.Bytes} / {shard.Sha256}");
                }
                blobs.Add(new OutputBlob(path, shard.Bytes, shard.Sha256, shard.Rows));
            }
            var stats = new DataprepVideoStatistics(report.StatusText, report.Reason, report.Samples, report.FlaggedSamples, report.DecodedFrames,
                report.ResampledFrames, report.SourceFps, $"{report.SourceWidth}x{report.SourceHeight}", report.Notes, report.MeanDisplacement,
                report.MaxDisplacement, report.MeanInconsistentFraction,
                JsonDocument.Parse(report.Sketch.ToJson()).RootElement, JsonDocument.Parse(spectrum.ToJson()).RootElement);
            return new VideoResult(blobs, report.Samples, JsonSerializer.SerializeToUtf8Bytes(stats));
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }
}

/// <summary>Merge step: sketches → scales → manifest (shards in video-id order, paths relative to it), plus per-video statuses and the spectrum.</summary>
public sealed class DataprepMerge(DataprepOptions options) : IIngestionMerge
{
    public async Task<MergeResult> MergeAsync(string datasetPrefix, IReadOnlyList<MergedVideo> videos, IBlobStore output, CancellationToken cancel)
    {
        var ordered = videos.OrderBy(v => v.VideoId, StringComparer.Ordinal).ToList();
        var stats = ordered.Select(v => DataprepVideoStatistics.Decode(v.VideoId, v.Result.Sketch)).ToList();
        var spectrum = new PowerSpectrum(options.Bins, options.Fps, options.ClipFrames);
        foreach (var s in stats)
            spectrum.Merge(PowerSpectrum.FromJson(s.Spectrum.GetRawText()));
        var sketches = ordered.Zip(stats, (v, s) => new VideoSketch(v.VideoId, PercentileSketch.FromJson(s.Sketch.GetRawText()))).ToList();
        var shards = ordered
            .SelectMany(v => v.Result.Blobs.OrderBy(b => b.Path, StringComparer.Ordinal))
            .Select(b => new ShardInfo(Relative(datasetPrefix, b.Path), b.Rows, b.Size, b.Sha256))
            .ToList();
        var manifest = DatasetWriter.CreateManifest(shards, sketches, options, DateTimeOffset.UnixEpoch);

        var videosJson = JsonSerializer.SerializeToUtf8Bytes(new
        {
            config = DatasetWriter.Config(options),
            videos = ordered.Zip(stats, (v, s) => new
            {
                video_id = v.VideoId,
                source_uri = v.VideoUri,
                s.Status,
                s.Reason,
                s.Samples,
                s.FlaggedSamples,
                s.DecodedFrames,
                s.ResampledFrames,
                s.SourceFps,
                s.SourceSize,
                s.Notes,
                s.MeanDisplacement,
                s.MaxDisplacement,
                s.MeanInconsistentFraction,
            }),
        }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
        await output.PutAsync($"{datasetPrefix}/{DataprepRun.VideosFile}", new MemoryStream(videosJson), cancel);
        await output.PutAsync($"{datasetPrefix}/{DataprepRun.SpectrumFile}", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(spectrum.ToJson())), cancel);
        // The manifest last: once it exists, everything it names does.
        var path = $"{datasetPrefix}/{ManifestFile.FileName}";
        var info = await output.PutAsync(path, new MemoryStream(ManifestFile.ToBytes(manifest)), cancel);
        var bins = Enumerable.Range(0, spectrum.Bins).ToList();
        return new MergeResult(path, info.Sha256!, manifest.TotalRows)
        {
            Spectrum = new JobSpectrum(bins.Select(spectrum.MeanX).ToList(), bins.Select(spectrum.MeanY).ToList(), bins.Select(spectrum.FrequencyHz).ToList()),
        };
    }

    private static string Relative(string prefix, string path) =>
        path.StartsWith(prefix + "/", StringComparison.Ordinal) ? path[(prefix.Length + 1)..]
            : throw new InvalidDataException($"shard {path} is outside the dataset {prefix}");
}
