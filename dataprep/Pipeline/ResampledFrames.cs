using GidCluster.Dataprep.OpenCv;

namespace GidCluster.Dataprep.Pipeline;

/// <summary>One decoded frame after resampling and resizing: gray at the flow resolution, RGB8 at the output resolution.</summary>
public sealed class FrameSlot : IDisposable
{
    public FrameSlot(int flowWidth, int flowHeight, int width, int height)
    {
        Gray = new Mat(flowHeight, flowWidth, MatType.CV_8UC1);
        Rgb = new byte[width * height * 3];
    }

    public Mat Gray { get; }
    public byte[] Rgb { get; }

    /// <summary>Presentation time in seconds (source clock, relative to the first frame).</summary>
    public double Time { get; set; }

    /// <summary>Mean |gray difference| to the previous resampled frame (scene-cut check).</summary>
    public double MeanAbsDiffToPrevious { get; set; }

    public void CopyTo(FrameSlot other)
    {
        Gray.CopyTo(other.Gray);
        Rgb.CopyTo(other.Rgb, 0);
        other.Time = Time;
    }

    public void Dispose() => Gray.Dispose();
}

/// <summary>
/// Decodes a video one frame at a time and yields it resampled to a fixed rate by presentation
/// timestamps (nearest frame; frames are repeated or dropped), resized right after decoding
/// (INTER_AREA when shrinking) so memory depends on neither length nor source resolution.
/// </summary>
public sealed class ResampledFrames : IDisposable
{
    private readonly VideoCapture _capture;
    private readonly DataprepOptions _options;
    private readonly Mat _raw = new();
    private readonly Mat _small = new();
    private readonly Mat _smallOut = new();
    private readonly Mat _rgb = new();
    private FrameSlot _current;
    private FrameSlot _next;
    private bool _haveCurrent;
    private bool _haveNext;
    private bool _ended;
    private long _emitted;
    private double _firstMsec = double.NaN;
    private double _lastTime;
    private double _minInterval = double.MaxValue;
    private double _maxInterval;
    private int _nonMonotonic;
    private int _pendingNonMonotonic;

    public ResampledFrames(string path, DataprepOptions options)
    {
        _options = options;
        _capture = new VideoCapture(path);
        if (!_capture.IsOpened)
        {
            _capture.Dispose();
            throw new InvalidDataException("FFmpeg cannot open it as a video (not a video container, unsupported codec, or no video stream)");
        }
        SourceFps = _capture.Fps;
        SourceWidth = _capture.FrameWidth;
        SourceHeight = _capture.FrameHeight;
        ContainerFrameCount = _capture.FrameCount;
        _current = new FrameSlot(options.FlowWidth, options.FlowHeight, options.Width, options.Height);
        _next = new FrameSlot(options.FlowWidth, options.FlowHeight, options.Width, options.Height);
    }

    public double SourceFps { get; }
    public int SourceWidth { get; }
    public int SourceHeight { get; }
    public int ContainerFrameCount { get; }
    public int DecodedFrames { get; private set; }

    /// <summary>True once the decoder reported the end of the stream (not when the caller stopped early).</summary>
    public bool ReachedEnd => _ended;

    /// <summary>Shortest and longest interval between decoded frames (seconds); they differ for variable frame rate.</summary>
    public (double Min, double Max) IntervalRange => DecodedFrames > 1 ? (_minInterval, _maxInterval) : (0, 0);

    /// <summary>Frames whose timestamp did not increase (replaced by the nominal interval).</summary>
    public int NonMonotonicTimestamps => _nonMonotonic;

    /// <summary>Copies the next resampled frame into <paramref name="destination"/>; false at the end.</summary>
    public bool Next(FrameSlot destination)
    {
        var tau = _emitted / _options.Fps;
        if (!_haveCurrent)
        {
            if (!ReadInto(_current))
                return false;
            _haveCurrent = true;
        }
        while (true)
        {
            if (!_haveNext && !_ended)
                _haveNext = ReadInto(_next);
            if (!_haveNext)
            {
                // Past the last frame: it stands for half a nominal interval after its timestamp.
                if (tau > _current.Time + 0.5 / NominalFps + 1e-9)
                    return false;
                break;
            }
            if (tau < 0.5 * (_current.Time + _next.Time))
                break;
            (_current, _next) = (_next, _current);
            _haveNext = false;
        }
        _current.CopyTo(destination);
        _emitted++;
        return true;
    }

    private double NominalFps => SourceFps is > 0 and < 1000 ? SourceFps : _options.Fps;

    private bool ReadInto(FrameSlot slot)
    {
        if (_ended)
            return false;
        if (!_capture.Read(_raw, out var msec) || _raw.Empty)
        {
            _ended = true;
            return false;
        }
        // Timestamps relative to the first frame; fall back to the nominal rate where they do not advance.
        double time;
        if (DecodedFrames == 0)
        {
            _firstMsec = msec;
            time = 0;
        }
        else
        {
            time = (msec - _firstMsec) / 1000.0;
            if (!double.IsFinite(time) || time <= _lastTime)
            {
                // FFmpeg reports 0 for the frames flushed from the decoder at the end; only gaps
                // followed by good timestamps again are worth a note.
                _pendingNonMonotonic++;
                time = _lastTime + 1.0 / NominalFps;
            }
            else
            {
                _nonMonotonic += _pendingNonMonotonic;
                _pendingNonMonotonic = 0;
            }
            var interval = time - _lastTime;
            _minInterval = Math.Min(_minInterval, interval);
            _maxInterval = Math.Max(_maxInterval, interval);
        }
        _lastTime = time;
        DecodedFrames++;

        var o = _options;
        var shrinking = _raw.Cols >= o.FlowWidth && _raw.Rows >= o.FlowHeight;
        Cv2.Resize(_raw, _small, o.FlowWidth, o.FlowHeight, shrinking ? InterpolationFlags.Area : InterpolationFlags.Linear);
        Cv2.CvtColor(_small, slot.Gray, ColorConversionCodes.BGR2GRAY);
        if (o.FlowWidth == o.Width)
        {
            Cv2.CvtColor(_small, _rgb, ColorConversionCodes.BGR2RGB);
        }
        else
        {
            Cv2.Resize(_raw, _smallOut, o.Width, o.Height, shrinking ? InterpolationFlags.Area : InterpolationFlags.Linear);
            Cv2.CvtColor(_smallOut, _rgb, ColorConversionCodes.BGR2RGB);
        }
        _rgb.Span<byte>().CopyTo(slot.Rgb);
        slot.Time = time;
        return true;
    }

    public void Dispose()
    {
        _capture.Dispose();
        _raw.Dispose();
        _small.Dispose();
        _smallOut.Dispose();
        _rgb.Dispose();
        _current.Dispose();
        _next.Dispose();
    }
}
