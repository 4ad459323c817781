using System.Runtime.InteropServices;
using System.Text.Json;
using GidCluster.Dataprep.Parquet;
using GidCluster.Dataprep.Samples;

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

    public static IReadOnlyList<ColumnSpec> Columns { get; } =
    [
        new(SampleColumns.VideoId, PhysicalType.ByteArray, IsString: true),
        new(SampleColumns.StartFrame, PhysicalType.Int32),
        new(SampleColumns.Fps, PhysicalType.Float),
        new(SampleColumns.Width, PhysicalType.Int32),
        new(SampleColumns.Height, PhysicalType.Int32),
        new(SampleColumns.Image, PhysicalType.ByteArray),
        new(SampleColumns.SpectralVolume, PhysicalType.ByteArray),
        new(SampleColumns.TargetFrames, PhysicalType.ByteArray),
        new(SampleColumns.TargetOffsets, PhysicalType.Int32, IsList: true),
        new(SampleColumns.SourceUri, PhysicalType.ByteArray, IsString: true),
        new(SampleColumns.FlowMethod, PhysicalType.ByteArray, IsString: true),
        new(SampleColumns.Quality, PhysicalType.ByteArray, IsString: true),
        new(SampleColumns.Split, PhysicalType.ByteArray, IsString: true),
    ];

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

    /// <summary>Shreds samples into the schema's columns (schema order).</summary>
    internal static List<ColumnData> ToColumns(IReadOnlyList<Sample> samples)
    {
        byte[][] Bytes(Func<Sample, byte[]> f) => samples.Select(f).ToArray();
        string[] Strings(Func<Sample, string> f) => samples.Select(f).ToArray();
        return
        [
            ColumnData.Required(Strings(s => s.VideoId)),
            ColumnData.Required(samples.Select(s => s.StartFrame).ToArray()),
            ColumnData.Required(samples.Select(s => s.Fps).ToArray()),
            ColumnData.Required(samples.Select(s => s.Width).ToArray()),
            ColumnData.Required(samples.Select(s => s.Height).ToArray()),
            ColumnData.Required(Bytes(s => s.Image)),
            ColumnData.Required(Bytes(s => MemoryMarshal.AsBytes(s.SpectralVolume.AsSpan()).ToArray())),
            ColumnData.Required(Bytes(s => s.TargetFrames)),
            ColumnData.Int32Lists(samples.Select(s => s.TargetOffsets).ToArray()),
            ColumnData.Required(Strings(s => s.SourceUri)),
            ColumnData.Required(Strings(s => s.FlowMethod)),
            ColumnData.Required(Strings(s => QualityToJson(s.Quality))),
            ColumnData.Required(Strings(s => s.Split)),
        ];
    }
}
