using System.Numerics;

namespace GidCluster.Dataprep.Spectral;

/// <summary>
/// Running unnormalized DFT (numpy <c>fft</c> convention, no 1/N) of the displacements
/// F_1 … F_N of one clip, keeping bins k = 0 … K−1. Flows may arrive in any order, and partial
/// accumulators of the same clip add up (<see cref="AddFrom"/>), so flows can be computed in
/// parallel and never all held at once. Accumulates in double so the result matches numpy's
/// float64 FFT to well below fp16 rounding.
/// </summary>
public sealed class SpectralAccumulator
{
    public const int Bins = 16;
    public const int Frames = 149;

    private readonly double[] _acc;     // [K, 4, H*W]: (Re x, Im x, Re y, Im y)
    private readonly double[] _cos;     // [N, K]
    private readonly double[] _sin;
    private readonly double[] _fx;
    private readonly double[] _fy;

    public SpectralAccumulator(int width, int height, int frames = Frames, int bins = Bins)
    {
        if (width <= 0 || height <= 0 || frames <= 0 || bins <= 0 || bins > frames)
            throw new ArgumentException($"bad spectral volume shape {bins}x4x{height}x{width} over {frames} frames");
        Width = width;
        Height = height;
        N = frames;
        K = bins;
        _acc = new double[K * 4 * width * height];
        _cos = new double[N * K];
        _sin = new double[N * K];
        for (var n = 0; n < N; n++)
        {
            for (var k = 0; k < K; k++)
            {
                // Reduce k·n mod N first so the angle is exact to double precision.
                var angle = 2 * Math.PI * ((long)k * n % N) / N;
                _cos[n * K + k] = Math.Cos(angle);
                _sin[n * K + k] = Math.Sin(angle);
            }
        }
        _fx = new double[width * height];
        _fy = new double[width * height];
    }

    public int Width { get; }
    public int Height { get; }
    public int N { get; }
    public int K { get; }

    public void Clear() => Array.Clear(_acc);

    /// <summary>Adds displacement F_t (t = 1 … N; interleaved x, y per pixel, as OpenCV's CV_32FC2) with weight e^{−2πik(t−1)/N}.</summary>
    public void Add(int t, ReadOnlySpan<float> flowXY)
    {
        if (t < 1 || t > N)
            throw new ArgumentOutOfRangeException(nameof(t), t, $"t must be 1..{N}");
        var plane = Width * Height;
        if (flowXY.Length != 2 * plane)
            throw new ArgumentException($"flow has {flowXY.Length} floats, expected {2 * plane}");
        for (var p = 0; p < plane; p++)
        {
            _fx[p] = flowXY[2 * p];
            _fy[p] = flowXY[2 * p + 1];
        }
        var n = t - 1;
        for (var k = 0; k < K; k++)
        {
            var c = _cos[n * K + k];
            var s = -_sin[n * K + k];
            var baseIndex = k * 4 * plane;
            Axpy(c, _fx, _acc.AsSpan(baseIndex, plane));
            Axpy(s, _fx, _acc.AsSpan(baseIndex + plane, plane));
            Axpy(c, _fy, _acc.AsSpan(baseIndex + 2 * plane, plane));
            Axpy(s, _fy, _acc.AsSpan(baseIndex + 3 * plane, plane));
        }
    }

    /// <summary>Adds another accumulator of the same clip (a disjoint set of t).</summary>
    public void AddFrom(SpectralAccumulator other)
    {
        if (other._acc.Length != _acc.Length || other.N != N)
            throw new ArgumentException("accumulators differ in shape");
        Axpy(1.0, other._acc, _acc);
    }

    /// <summary>The volume as fp16 <c>[K, 4, H, W]</c>.</summary>
    public Half[] ToHalf()
    {
        var result = new Half[_acc.Length];
        for (var i = 0; i < _acc.Length; i++)
            result[i] = (Half)_acc[i];
        return result;
    }

    /// <summary>The volume in double precision <c>[K, 4, H, W]</c> (a copy).</summary>
    public double[] ToDouble() => (double[])_acc.Clone();

    private static void Axpy(double a, ReadOnlySpan<double> x, Span<double> y)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<double>(a);
            var width = Vector<double>.Count;
            for (; i <= x.Length - width; i += width)
            {
                var vy = new Vector<double>(y[i..]);
                (vy + va * new Vector<double>(x[i..])).CopyTo(y[i..]);
            }
        }
        for (; i < x.Length; i++)
            y[i] += a * x[i];
    }
}
