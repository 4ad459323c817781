using System.Text.Json;
using GidCluster.Dataprep.Samples;
using Parquet.Schema;

namespace GidCluster.Dataprep.Shards;

/// <summary>
/// The shard layout: one Parquet row per <see cref="Sample"/>, columns named by <see cref="SampleColumns"/>.
/// Binary columns hold raw little-endian bytes: <c>image</c> RGB8 H×W×3, <c>spectral_volume</c> fp16
/// [16,4,H,W], <c>target_frames</c> RGB8 M×H×W×3 for the M offsets in the <c>target_offsets</c> LIST&lt;INT32&gt;.
/// <c>quality</c> is JSON (snake_case keys).
/// </summary>
public static class ShardSchema
{
    /// <summary>Bumped when columns change meaning; stored in each shard's footer and in the manifest.</summary>
    public const int Version = 1;

    public const string VersionKey = "gid.sample_schema_version";

    /// <summary>Frequency bins K and channels (Re x, Im x, Re y, Im y) of a spectral volume.</summary>
    public const int Bins = 16;
    public const int Channels = 4;

    /// <summary>The Parquet schema our shards are written with (every column required; the list's elements required).</summary>
    public static ParquetSchema Parquet { get; } = new(
        new DataField<string>(SampleColumns.VideoId, false),
        new DataField<int>(SampleColumns.StartFrame),
        new DataField<float>(SampleColumns.Fps),
        new DataField<int>(SampleColumns.Width),
        new DataField<int>(SampleColumns.Height),
        new DataField<byte[]>(SampleColumns.Image, false),
        new DataField<byte[]>(SampleColumns.SpectralVolume, false),
        new DataField<byte[]>(SampleColumns.TargetFrames, false),
        new ListField(SampleColumns.TargetOffsets, new DataField<int>("element")),
        new DataField<string>(SampleColumns.SourceUri, false),
        new DataField<string>(SampleColumns.FlowMethod, false),
        new DataField<string>(SampleColumns.Quality, false),
        new DataField<string>(SampleColumns.Split, false));

    private static readonly JsonSerializerOptions QualityJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static string QualityToJson(SampleQuality quality) => JsonSerializer.Serialize(quality, QualityJson);

    public static SampleQuality QualityFromJson(string json) =>
        JsonSerializer.Deserialize<SampleQuality>(json, QualityJson) ?? throw new JsonException("quality is JSON null");

    /// <summary>Checks a sample's sizes and split before it is written; the message names the sample.</summary>
    public static void Validate(Sample s)
    {
        string Where() => $"sample {s.VideoId}@{s.StartFrame}";
        if (s.Width <= 0 || s.Height <= 0)
            throw new ArgumentException($"{Where()}: size {s.Width}x{s.Height} is not positive");
        long pixels = (long)s.Width * s.Height;
        if (s.Image.Length != pixels * 3)
            throw new ArgumentException($"{Where()}: image has {s.Image.Length} bytes, expected {pixels * 3} (RGB8 {s.Width}x{s.Height})");
        if (s.SpectralVolume.Length != pixels * Bins * Channels)
            throw new ArgumentException($"{Where()}: spectral volume has {s.SpectralVolume.Length} values, expected {pixels * Bins * Channels} ([16,4,{s.Height},{s.Width}])");
        if (s.TargetFrames.Length != pixels * 3 * s.TargetOffsets.Length)
            throw new ArgumentException($"{Where()}: target frames have {s.TargetFrames.Length} bytes, expected {pixels * 3 * s.TargetOffsets.Length} for {s.TargetOffsets.Length} offsets");
        if (s.Split is not ("train" or "test"))
            throw new ArgumentException($"{Where()}: split is '{s.Split}', expected 'train' or 'test'");
    }

    /// <summary>Approximate encoded size of a sample, for row-group and shard sizing.</summary>
    public static long EstimateBytes(Sample s) =>
        s.Image.Length + 2L * s.SpectralVolume.Length + s.TargetFrames.Length + 4L * s.TargetOffsets.Length
        + s.VideoId.Length + s.SourceUri.Length + s.FlowMethod.Length + s.Split.Length + 256;
}
