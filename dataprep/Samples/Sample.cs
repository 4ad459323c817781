namespace GidCluster.Dataprep.Samples;

/// <summary>
/// One training sample: a start image and the spectral volume of the motion that follows it
/// (ARCHITECTURE.md §1.1). Property names map one-to-one to the shard columns that other tools
/// read (<c>video_id</c>, <c>start_frame</c>, ... — see <see cref="SampleColumns"/>).
/// </summary>
/// <param name="Image">RGB8, <c>Height × Width × 3</c>, row-major.</param>
/// <param name="SpectralVolume">Raw (unnormalized) coefficients, fp16, <c>[K=16, 4, H, W]</c>, channels (Re x, Im x, Re y, Im y).</param>
/// <param name="TargetFrames">RGB8 frames at <paramref name="TargetOffsets"/> after the start frame, concatenated.</param>
/// <param name="FlowMethod">The flow algorithm with its parameters, e.g. <c>dis:medium,vr=1,256x160</c>.</param>
/// <param name="Quality">Motion statistics and plausibility of this sample.</param>
/// <param name="Split"><c>train</c> or <c>test</c>, decided per video.</param>
public sealed record Sample(
    string VideoId,
    int StartFrame,
    float Fps,
    int Width,
    int Height,
    byte[] Image,
    Half[] SpectralVolume,
    byte[] TargetFrames,
    int[] TargetOffsets,
    string SourceUri,
    string FlowMethod,
    SampleQuality Quality,
    string Split);

/// <summary>Per-sample quality record (stored as JSON in the <c>quality</c> column).</summary>
/// <param name="MeanDisplacement">Mean ‖F_t(p)‖ over pixels and t, in pixels at the flow resolution.</param>
/// <param name="MaxDisplacement">Max ‖F_t(p)‖ over pixels and t.</param>
/// <param name="InconsistentFraction">Fraction of pixels failing the forward-backward check, averaged over t.</param>
/// <param name="Flags">Why the sample looks implausible (e.g. <c>scene_cut</c>, <c>camera_shake</c>, <c>flow_failed</c>); empty when it looks fine.</param>
public sealed record SampleQuality(
    double MeanDisplacement,
    double MaxDisplacement,
    double InconsistentFraction,
    IReadOnlyList<string> Flags);

/// <summary>The shard column names: a contract with other tools (DuckDB, Python loaders).</summary>
public static class SampleColumns
{
    public const string VideoId = "video_id";
    public const string StartFrame = "start_frame";
    public const string Fps = "fps";
    public const string Width = "width";
    public const string Height = "height";
    public const string Image = "image";
    public const string SpectralVolume = "spectral_volume";
    public const string TargetFrames = "target_frames";
    public const string TargetOffsets = "target_offsets";
    public const string SourceUri = "source_uri";
    public const string FlowMethod = "flow_method";
    public const string Quality = "quality";
    public const string Split = "split";
}
