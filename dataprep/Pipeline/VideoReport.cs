using GidCluster.Dataprep.Statistics;

namespace GidCluster.Dataprep.Pipeline;

public enum VideoStatus
{
    Ok,
    NoClips,
    Error,
}

/// <summary>
/// What happened to one video: status with a reason, decode facts, and the statistics sketch of
/// the samples it produced (merge these across videos for the normalization scales).
/// </summary>
public sealed record VideoReport(
    string Path,
    string VideoId,
    VideoStatus Status,
    string Reason,
    int Samples,
    int FlaggedSamples,
    int DecodedFrames,
    int ResampledFrames,
    double SourceFps,
    int SourceWidth,
    int SourceHeight,
    IReadOnlyList<string> Notes,
    double MeanDisplacement,
    double MaxDisplacement,
    double MeanInconsistentFraction,
    long Flows,
    TimeSpan Elapsed,
    PercentileSketch Sketch)
{
    /// <summary>A video that failed before anything was decoded.</summary>
    public static VideoReport Failed(string path, string videoId, string reason, int bins = 16) =>
        new(path, videoId, VideoStatus.Error, reason, 0, 0, 0, 0, 0, 0, 0, [], 0, 0, 0, 0, TimeSpan.Zero, new PercentileSketch(bins));

    public string StatusText => Status switch
    {
        VideoStatus.Ok => "ok",
        VideoStatus.NoClips => "no clips",
        _ => "error",
    };
}

/// <summary>Progress of one video: frames decoded, clips finished, flows computed so far.</summary>
public readonly record struct DataprepProgress(string VideoId, int Frames, int Clips, long Flows);
