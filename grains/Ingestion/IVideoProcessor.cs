using GidCluster.Contracts;
using GidCluster.Grains.Blobs;

namespace GidCluster.Grains.Ingestion;

/// <summary>One video to process: where it is, its id, and the blob prefix its outputs must go under.</summary>
/// <param name="VideoUri">Absolute local path of the video (validated against the silo's allowed roots).</param>
/// <param name="VideoId">Deterministic id of the video within the job (from its URI).</param>
/// <param name="OutputPrefix">Blob prefix for this video's outputs, e.g. <c>datasets/NAME/videos/ID</c>. Output names under it must be deterministic.</param>
/// <param name="Parameters">The job's pipeline parameters (validated by <see cref="IngestionPipeline.CheckParameters"/> at submission).</param>
public sealed record VideoWork(string VideoUri, string VideoId, string OutputPrefix, IReadOnlyDictionary<string, string> Parameters);

/// <summary>What processing one video produced: its output blobs, its row count, and a mergeable statistics sketch.</summary>
public sealed record VideoResult(IReadOnlyList<OutputBlob> Blobs, long Rows, byte[] Sketch);

/// <summary>
/// The per-video step of an ingestion. Implementations must be deterministic: the same video gives
/// the same output names and bytes, so a video run twice (its silo died mid-run) leaves one result.
/// </summary>
public interface IVideoProcessor
{
    Task<VideoResult> ProcessAsync(VideoWork work, IBlobStore output, CancellationToken cancel);
}

/// <summary>One finished video as the merge step sees it.</summary>
public sealed record MergedVideo(string VideoId, string VideoUri, VideoResult Result);

/// <summary>
/// The job's last step: merge every video's statistics sketch and write the manifest under
/// <paramref name="datasetPrefix"/>. Must be deterministic in the videos (given sorted by id).
/// </summary>
public interface IIngestionMerge
{
    Task<MergeResult> MergeAsync(string datasetPrefix, IReadOnlyList<MergedVideo> videos, IBlobStore output, CancellationToken cancel);
}

/// <summary>A named pair of per-video processor and merge step; a job names the pipeline it runs.</summary>
public sealed record IngestionPipeline(string Name, string Description, IVideoProcessor Processor, IIngestionMerge Merge)
{
    /// <summary>The blob folder a job's outputs go under, as <c>ROOT/NAME</c>: datasets, unless the pipeline makes something else.</summary>
    public string OutputRoot { get; init; } = "datasets";

    /// <summary>
    /// A job whose items are independent (animations) merges the ones that are done and lists the quarantined ones;
    /// otherwise (a dataset) one quarantined video fails the job, since a dataset quietly missing videos would mislead.
    /// </summary>
    public bool PartialResults { get; init; }

    /// <summary>Checks a job's parameters: null when they are fine, else what is wrong. Without it the pipeline takes none.</summary>
    public Func<IReadOnlyDictionary<string, string>, string?>? CheckParameters { get; init; }
}

/// <summary>
/// The pipelines this build knows. <c>frame-stats</c> is built in; the dataprep library registers
/// its pipeline (flow, spectral volumes, Parquet shards) here when it is wired in.
/// </summary>
public static class IngestionPipelines
{
    private static readonly Dictionary<string, Func<IngestionPipeline>> Factories = new(StringComparer.Ordinal)
    {
        [FrameStatsProcessor.PipelineName] = () => new IngestionPipeline(
            FrameStatsProcessor.PipelineName,
            "decodes each video with ffmpeg and records per-frame mean luminance and a luminance histogram (not dataprep)",
            new FrameStatsProcessor(), new LuminanceHistogramMerge()),
    };

    public static IReadOnlyCollection<string> Names
    {
        get { lock (Factories) return Factories.Keys.Order(StringComparer.Ordinal).ToList(); }
    }

    public static void Register(string name, Func<IngestionPipeline> factory)
    {
        lock (Factories)
            Factories[name] = factory;
    }

    public static bool TryCreate(string name, out IngestionPipeline pipeline)
    {
        Func<IngestionPipeline>? factory;
        lock (Factories)
            Factories.TryGetValue(name, out factory);
        pipeline = factory?.Invoke()!;
        return factory != null;
    }
}
