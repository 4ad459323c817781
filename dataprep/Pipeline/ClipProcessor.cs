using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Spectral;

namespace GidCluster.Dataprep.Pipeline;

/// <summary>The result of one clip: the fp16 spectral volume and its quality record.</summary>
public sealed record ClipResult(Half[] SpectralVolume, SampleQuality Quality, int Flows);

/// <summary>
/// Flow from the start frame directly to each of the N following frames (not chained), on
/// parallel workers that each own a flow engine and a partial DFT accumulator; plus a
/// forward-backward consistency check on every n-th t. Reusable across clips (buffers persist).
/// </summary>
public sealed class ClipProcessor : IDisposable
{
    private readonly DataprepOptions _o;
    private readonly Worker[] _workers;
    private readonly double[] _inconsistent;   // per t (NaN when not checked)
    private readonly double[] _globalMotion;   // per t: |median flow vector|
    private readonly double[] _sumMagnitude;   // per t
    private readonly double[] _maxMagnitude;   // per t
    private readonly bool[] _nonFinite;        // per t

    public ClipProcessor(DataprepOptions options)
    {
        options.Validate();
        _o = options;
        _workers = new Worker[options.Workers];
        for (var i = 0; i < _workers.Length; i++)
            _workers[i] = new Worker(options);
        _inconsistent = new double[options.ClipFrames + 1];
        _globalMotion = new double[options.ClipFrames + 1];
        _sumMagnitude = new double[options.ClipFrames + 1];
        _maxMagnitude = new double[options.ClipFrames + 1];
        _nonFinite = new bool[options.ClipFrames + 1];
    }

    /// <summary>Also keeps the full-precision volume (tests compare it with numpy); off by default.</summary>
    public double[]? LastVolumeDouble { get; private set; }
    public bool KeepDouble { get; set; }

    /// <summary>Optional hook receiving every forward flow (t, interleaved x/y at the output resolution); called from worker threads.</summary>
    public Action<int, ReadOnlySpan<float>>? FlowObserver { get; set; }

    /// <summary>
    /// Processes frames[0] (start) … frames[N]. <paramref name="frameDiffs"/>[t] is the mean gray
    /// difference between frames t−1 and t (for the scene-cut check).
    /// </summary>
    public ClipResult Process(IReadOnlyList<Mat> frames, IReadOnlyList<double> frameDiffs)
    {
        var n = _o.ClipFrames;
        if (frames.Count != n + 1)
            throw new ArgumentException($"a clip needs {n + 1} frames, got {frames.Count}");
        Array.Fill(_inconsistent, double.NaN);
        var flows = 0;
        Cv2.SetNumThreads(_o.CvThreads);
        Parallel.For(0, _workers.Length, new ParallelOptions { MaxDegreeOfParallelism = _workers.Length }, w =>
        {
            var worker = _workers[w];
            worker.Accumulator.Clear();
            for (var t = 1 + w; t <= n; t += _workers.Length)
            {
                var forward = worker.Flow(frames[0], frames[t], worker.Forward);
                FlowObserver?.Invoke(t, forward);
                worker.Accumulator.Add(t, forward);
                Measure(t, forward, worker.Sample);
                Interlocked.Increment(ref flows);
                if (_o.ConsistencyStride > 0 && (t % _o.ConsistencyStride == 0 || t == n))
                {
                    var backward = worker.Flow(frames[t], frames[0], worker.Backward);
                    _inconsistent[t] = InconsistentFraction(worker.Forward.Span<float>(), backward, _o.Width, _o.Height);
                    Interlocked.Increment(ref flows);
                }
            }
        });
        var total = _workers[0].Accumulator;
        for (var w = 1; w < _workers.Length; w++)
            total.AddFrom(_workers[w].Accumulator);
        LastVolumeDouble = KeepDouble ? total.ToDouble() : null;
        return new ClipResult(total.ToHalf(), Quality(frameDiffs), flows);
    }

    private void Measure(int t, ReadOnlySpan<float> f, float[] sample)
    {
        double sum = 0, max = 0;
        var bad = false;
        for (var p = 0; p < f.Length; p += 2)
        {
            var x = f[p];
            var y = f[p + 1];
            if (!float.IsFinite(x) || !float.IsFinite(y)) { bad = true; continue; }
            var m = Math.Sqrt((double)x * x + (double)y * y);
            sum += m;
            if (m > max) max = m;
        }
        // Global (camera) motion: the median flow vector over a fixed subsample of pixels.
        var count = sample.Length / 2;
        var stride = Math.Max(1, f.Length / 2 / count);
        for (var i = 0; i < count; i++)
        {
            var p = Math.Min(i * stride, f.Length / 2 - 1);
            sample[i] = f[2 * p];
            sample[count + i] = f[2 * p + 1];
        }
        Array.Sort(sample, 0, count);
        Array.Sort(sample, count, count);
        double mx = sample[count / 2], my = sample[count + count / 2];
        _sumMagnitude[t] = sum;
        _maxMagnitude[t] = max;
        _nonFinite[t] = bad;
        _globalMotion[t] = Math.Sqrt(mx * mx + my * my);
    }

    /// <summary>
    /// Fraction of pixels p whose forward flow F(p) is not undone by the backward flow at p+F(p)
    /// (bilinear), using the test of Sundaram et al. 2010: |F + B|² ≤ 0.01(|F|² + |B|²) + 0.5;
    /// pixels that flow out of the frame count as inconsistent.
    /// </summary>
    public static double InconsistentFraction(ReadOnlySpan<float> forward, ReadOnlySpan<float> backward, int width, int height)
    {
        var bad = 0;
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = 2 * (y * width + x);
                double fx = forward[i], fy = forward[i + 1];
                double qx = x + fx, qy = y + fy;
                if (!(qx >= 0 && qy >= 0 && qx <= width - 1 && qy <= height - 1))
                {
                    bad++;
                    continue;
                }
                int x0 = (int)qx, y0 = (int)qy;
                int x1 = Math.Min(x0 + 1, width - 1), y1 = Math.Min(y0 + 1, height - 1);
                double ax = qx - x0, ay = qy - y0;
                double bx = Bilinear(backward, width, x0, y0, x1, y1, ax, ay, 0);
                double by = Bilinear(backward, width, x0, y0, x1, y1, ax, ay, 1);
                var sx = fx + bx;
                var sy = fy + by;
                if (sx * sx + sy * sy > 0.01 * (fx * fx + fy * fy + bx * bx + by * by) + 0.5)
                    bad++;
            }
        }
        return (double)bad / (width * height);
    }

    private static double Bilinear(ReadOnlySpan<float> f, int width, int x0, int y0, int x1, int y1, double ax, double ay, int c) =>
        (1 - ay) * ((1 - ax) * f[2 * (y0 * width + x0) + c] + ax * f[2 * (y0 * width + x1) + c]) +
        ay * ((1 - ax) * f[2 * (y1 * width + x0) + c] + ax * f[2 * (y1 * width + x1) + c]);

    private SampleQuality Quality(IReadOnlyList<double> frameDiffs)
    {
        var n = _o.ClipFrames;
        double sum = 0, max = 0, shake = 0, inconsistentSum = 0;
        var checkedCount = 0;
        var nonFinite = false;
        for (var t = 1; t <= n; t++)
        {
            sum += _sumMagnitude[t];
            max = Math.Max(max, _maxMagnitude[t]);
            shake = Math.Max(shake, _globalMotion[t]);
            nonFinite |= _nonFinite[t];
            if (!double.IsNaN(_inconsistent[t]))
            {
                inconsistentSum += _inconsistent[t];
                checkedCount++;
            }
        }
        var inconsistent = checkedCount > 0 ? inconsistentSum / checkedCount : 0;
        var flags = new List<string>();
        var maxDiff = 0.0;
        for (var t = 1; t < frameDiffs.Count; t++)
            maxDiff = Math.Max(maxDiff, frameDiffs[t]);
        if (maxDiff > _o.SceneCutGrayLevels)
            flags.Add("scene_cut");
        if (shake > _o.CameraShakePixels)
            flags.Add("camera_shake");
        if (nonFinite || inconsistent > _o.FlowFailedInconsistentFraction)
            flags.Add("flow_failed");
        var pixels = (double)_o.Width * _o.Height;
        return new SampleQuality(sum / (n * pixels), max, inconsistent, flags);
    }

    public void Dispose()
    {
        foreach (var w in _workers)
            w.Dispose();
    }

    /// <summary>One flow engine with its buffers and partial DFT; used by one thread at a time.</summary>
    private sealed class Worker(DataprepOptions o) : IDisposable
    {
        private readonly ScaledFlowEngine _engine = new(o.Flow, o.FlowWidth, o.Width, o.Height);
        public readonly Mat Forward = new();
        public readonly Mat Backward = new();
        public readonly SpectralAccumulator Accumulator = new(o.Width, o.Height, o.ClipFrames, o.Bins);
        public readonly float[] Sample = new float[2 * 1024];

        public ReadOnlySpan<float> Flow(Mat a, Mat b, Mat into) => _engine.Calc(a, b, into);

        public void Dispose()
        {
            _engine.Dispose();
            Forward.Dispose();
            Backward.Dispose();
        }
    }
}

/// <summary>
/// A flow engine that reports flow at the output resolution: computed at the frames' resolution,
/// then (when that is finer) downsampled with INTER_AREA and the displacements rescaled.
/// </summary>
public sealed class ScaledFlowEngine(FlowParams flow, int flowWidth, int width, int height) : IDisposable
{
    private readonly DenseOpticalFlow _engine = new(flow);
    private readonly Mat _raw = new();

    /// <summary>Flow from <paramref name="a"/> to <paramref name="b"/> into <paramref name="into"/>; returns its data (interleaved x, y).</summary>
    public Span<float> Calc(Mat a, Mat b, Mat into)
    {
        if (flowWidth == width)
        {
            _engine.Calc(a, b, into);
            return into.Span<float>();
        }
        _engine.Calc(a, b, _raw);
        Cv2.Resize(_raw, into, width, height, InterpolationFlags.Area);
        var span = into.Span<float>();
        var scale = (float)width / flowWidth;
        for (var i = 0; i < span.Length; i++)
            span[i] *= scale;
        return span;
    }

    public void Dispose()
    {
        _engine.Dispose();
        _raw.Dispose();
    }
}
