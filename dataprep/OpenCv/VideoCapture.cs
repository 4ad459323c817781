namespace GidCluster.Dataprep.OpenCv;

/// <summary>The <c>cv::VideoCaptureProperties</c> this binding reads.</summary>
public enum VideoCaptureProperties
{
    PosMsec = 0,
    PosFrames = 1,
    FrameWidth = 3,
    FrameHeight = 4,
    Fps = 5,
    FourCC = 6,
    FrameCount = 7,
}

/// <summary>
/// Streaming decoder over <c>cv::VideoCapture</c> with the FFmpeg backend. <see cref="Read"/>
/// decodes one frame into a caller-owned <see cref="Mat"/> (its buffer is reused).
/// </summary>
public sealed class VideoCapture : IDisposable
{
    private readonly VideoCaptureHandle _handle;

    /// <summary>Opens <paramref name="path"/>; check <see cref="IsOpened"/> (FFmpeg could not read it when false).</summary>
    public VideoCapture(string path)
    {
        NativeMethods.Check(NativeMethods.gid_cv_capture_open(path, out var p, out var opened));
        _handle = new VideoCaptureHandle(p);
        IsOpened = opened != 0;
    }

    public bool IsOpened { get; }

    public double Get(VideoCaptureProperties prop)
    {
        NativeMethods.Check(NativeMethods.gid_cv_capture_get(_handle, (int)prop, out var v));
        return v;
    }

    public double Fps => Get(VideoCaptureProperties.Fps);
    public int FrameWidth => (int)Get(VideoCaptureProperties.FrameWidth);
    public int FrameHeight => (int)Get(VideoCaptureProperties.FrameHeight);

    /// <summary>The container's frame count (an estimate for some formats).</summary>
    public int FrameCount => (int)Get(VideoCaptureProperties.FrameCount);

    /// <summary>Decodes the next frame (BGR8) into <paramref name="frame"/>; false at the end of the stream.</summary>
    public bool Read(Mat frame) => Read(frame, out _);

    /// <summary>As <see cref="Read(Mat)"/>, also returning the frame's presentation time in milliseconds.</summary>
    public bool Read(Mat frame, out double positionMsec)
    {
        NativeMethods.Check(NativeMethods.gid_cv_capture_read(_handle, frame.Handle, out var ok, out positionMsec));
        return ok != 0;
    }

    public void Dispose() => _handle.Dispose();
}
