using GidCluster.Dataprep.OpenCv;

namespace GidCluster.Dataprep.Pipeline;

/// <summary>
/// Settings of the per-video pipeline (ARCHITECTURE.md §1.1). The default flow is the measured
/// choice (`gid synth --evaluate`): DIS medium with variational refinement, patches down to full
/// resolution (finest scale 0), at 256×160. The preset's finest scale 1 is 4× cheaper but
/// underestimates sub-pixel oscillations by 5–12% in amplitude on synthetic scenes.
/// </summary>
public sealed record DataprepOptions
{
    /// <summary>Output resolution of images and spectral volumes (W×H).</summary>
    public int Width { get; init; } = 256;
    public int Height { get; init; } = 160;

    /// <summary>Resolution the flow is computed at; when larger, flow is downsampled and displacements rescaled to <see cref="Width"/>×<see cref="Height"/>.</summary>
    public int FlowWidth { get; init; } = 256;
    public int FlowHeight { get; init; } = 160;

    public double Fps { get; init; } = 30;

    /// <summary>Flow from start frame s to s+1 … s+<see cref="ClipFrames"/> (N).</summary>
    public int ClipFrames { get; init; } = 149;
    public int Bins { get; init; } = 16;

    /// <summary>Start frames every <see cref="StartStride"/> frames.</summary>
    public int StartStride { get; init; } = 10;

    /// <summary>At most this many clips per video (0 = all); tests and benchmarks bound their work with it.</summary>
    public int MaxClips { get; init; }

    public FlowParams Flow { get; init; } = FlowParams.Dis(DisPreset.Medium, finestScale: 0);

    /// <summary>Forward-backward check on every n-th t (backward flow costs one more flow each); 0 disables it.</summary>
    public int ConsistencyStride { get; init; } = 10;

    /// <summary>Target frames for the renderer: offsets t after the start frame.</summary>
    public IReadOnlyList<int> TargetOffsets { get; init; } = [15, 50, 100, 149];

    /// <summary>Parallel flow workers (each with its own engine); OpenCV's pool gets <see cref="CvThreads"/>.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    public int CvThreads { get; init; } = 1;

    /// <summary>Plausibility thresholds (pixels at <see cref="Width"/>, gray levels, fractions).</summary>
    public double CameraShakePixels { get; init; } = 2.0;
    public double SceneCutGrayLevels { get; init; } = 30;
    public double FlowFailedInconsistentFraction { get; init; } = 0.5;

    /// <summary>The split of a video id (<c>train</c>/<c>test</c>); the manifest's deterministic split is wired in by its owner.</summary>
    public Func<string, string> SplitOf { get; init; } = _ => "train";

    /// <summary>Rejects inconsistent settings with a message naming the setting.</summary>
    public void Validate()
    {
        if (Width <= 0 || Height <= 0 || FlowWidth <= 0 || FlowHeight <= 0)
            throw new ArgumentException("resolutions must be positive");
        if (FlowWidth * Height != FlowHeight * Width)
            throw new ArgumentException($"flow resolution {FlowWidth}x{FlowHeight} must have the aspect of {Width}x{Height}");
        if (FlowWidth < Width)
            throw new ArgumentException($"flow resolution {FlowWidth}x{FlowHeight} must not be below the output {Width}x{Height}");
        if (Fps <= 0) throw new ArgumentException("fps must be positive");
        if (ClipFrames < 2 || Bins < 1 || Bins > ClipFrames) throw new ArgumentException($"bad clip shape N={ClipFrames}, K={Bins}");
        if (StartStride < 1) throw new ArgumentException("start stride must be >= 1");
        if (MaxClips < 0) throw new ArgumentException("max clips must be >= 0");
        if (ConsistencyStride < 0) throw new ArgumentException("consistency stride must be >= 0");
        if (Workers < 1 || CvThreads < 0) throw new ArgumentException("workers must be >= 1 and OpenCV threads >= 0");
        foreach (var t in TargetOffsets)
        {
            if (t < 1 || t > ClipFrames)
                throw new ArgumentException($"target offset {t} is outside 1..{ClipFrames}");
        }
    }

    /// <summary>The <c>flow_method</c> text stored with each sample.</summary>
    public string FlowDescription => $"{Flow},{FlowWidth}x{FlowHeight}" + (FlowWidth != Width ? $"->{Width}x{Height}" : "");
}
