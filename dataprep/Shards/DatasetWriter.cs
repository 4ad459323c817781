using System.Text.Json.Nodes;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Statistics;

namespace GidCluster.Dataprep.Shards;

/// <summary>One video's contribution to the normalization statistics.</summary>
public sealed record VideoSketch(string VideoId, PercentileSketch Sketch);

/// <summary>
/// Samples → shard set → <c>manifest.json</c>: the one place that turns a stream of samples into a
/// dataset. <c>gid dataprep</c> uses it as its sample sink; the cluster's per-video grain uses it
/// to write that video's shards and its merge grain uses <see cref="CreateManifest"/> for the manifest.
/// </summary>
public sealed class DatasetWriter(string folder, ShardWriterOptions? shardOptions = null) : ISampleSink, IDisposable
{
    private readonly ShardSetWriter _shards = new(folder, shardOptions);

    public string Folder { get; } = folder;

    /// <summary>The options with the manifest's deterministic split wired in, so every sample carries the split its video is listed under.</summary>
    public static DataprepOptions WithSplit(DataprepOptions options, double testFraction = DatasetSplit.DefaultTestFraction) =>
        options with { SplitOf = id => DatasetSplit.Assign(id, testFraction) };

    public void Write(Sample sample) => _shards.Write(sample);

    /// <summary>Closes the last shard; returns every shard (paths relative to <see cref="Folder"/>).</summary>
    public IReadOnlyList<ShardInfo> CompleteShards() => _shards.Complete();

    /// <summary>Closes the shards and writes <c>manifest.json</c> for them into <see cref="Folder"/>; returns its path.</summary>
    public string Finish(IReadOnlyList<VideoSketch> videos, DataprepOptions options) =>
        ManifestFile.Write(Folder, CreateManifest(CompleteShards(), videos, options, DateTimeOffset.UtcNow));

    /// <summary>
    /// The manifest for these shards: split decided per video id, normalization scales from the
    /// merged sketch of the training videos (all videos when no training video has samples),
    /// the sketch's parameters and the pipeline settings that shape the samples.
    /// </summary>
    public static DatasetManifest CreateManifest(IReadOnlyList<ShardInfo> shards, IReadOnlyList<VideoSketch> videos, DataprepOptions options,
        DateTimeOffset created, double testFraction = DatasetSplit.DefaultTestFraction)
    {
        var train = new PercentileSketch(options.Bins);
        var all = new PercentileSketch(options.Bins);
        var trainVideos = 0;
        foreach (var v in videos.OrderBy(v => v.VideoId, StringComparer.Ordinal))
        {
            all.Merge(v.Sketch);
            if (DatasetSplit.Assign(v.VideoId, testFraction) == "train")
            {
                train.Merge(v.Sketch);
                trainVideos++;
            }
        }
        var useTrain = train.Count(0) > 0;
        var sketch = useTrain ? train : all;
        const double Percentile = 95;
        NormalizationInfo? normalization = null;
        if (sketch.Count(0) > 0)
        {
            var scales = sketch.Scales(Percentile / 100);
            // A bin that is zero everywhere cannot be normalized by; leave the scales out rather than write unusable ones.
            if (scales.All(s => float.IsFinite(s) && s > 0))
            {
                normalization = new NormalizationInfo(scales, Percentile, new JsonObject
                {
                    ["kind"] = "fp16-log-histogram",
                    ["dropped_mantissa_bits"] = PercentileSketch.DroppedMantissaBits,
                    ["relative_error_bound"] = PercentileSketch.RelativeErrorBound,
                    ["bins"] = sketch.Bins,
                    ["values_per_bin"] = sketch.Count(0),
                    ["videos"] = useTrain ? "train" : "all (no training video has samples)",
                });
            }
        }
        return new DatasetManifest(DatasetManifest.CurrentSchemaVersion, created, shards,
            DatasetSplit.Describe(videos.Select(v => v.VideoId), testFraction), normalization, Config(options));
    }

    /// <summary>The settings that determine the samples' content (not how many threads made them).</summary>
    public static JsonObject Config(DataprepOptions o) => new()
    {
        ["width"] = o.Width,
        ["height"] = o.Height,
        ["flow_width"] = o.FlowWidth,
        ["flow_height"] = o.FlowHeight,
        ["fps"] = o.Fps,
        ["clip_frames"] = o.ClipFrames,
        ["bins"] = o.Bins,
        ["start_stride"] = o.StartStride,
        ["max_clips"] = o.MaxClips,
        ["flow_method"] = o.FlowDescription,
        ["consistency_stride"] = o.ConsistencyStride,
        ["target_offsets"] = new JsonArray(o.TargetOffsets.Select(t => (JsonNode)t).ToArray()),
        ["shard_schema_version"] = ShardSchema.Version,
    };

    public void Dispose() => _shards.Dispose();
}
