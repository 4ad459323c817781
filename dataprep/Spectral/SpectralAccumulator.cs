using System.Numerics;
using System.Runtime.InteropServices;

namespace GidCluster.Dataprep.Spectral;

/// <summary>
/// Running unnormalized DFT (numpy <c>fft</c> convention, no 1/N) of the displacements
/// F_1 … F_N of one clip, keeping bins k = 0 … K−1. Flows may arrive in any order, and partial
/// accumulators of the same clip add up (<see cref="AddFrom"/>), so flows can be computed in
/// parallel and never all held at once. Accumulates in double so the result matches numpy's
/// float64 FFT to well below fp16 rounding. Flows are buffered in batches of 16 and folded in
/// with the accumulator held in registers, so the 16×4×H×W accumulator is swept once per batch
/// rather than once per flow (a per-flow sweep is memory-bound).
/// </summary>
public sealed class SpectralAccumulator
{
    public const int Bins = 16;
    public const int Frames = 149;
    private const int BatchSize = 16;

    private readonly double[] _acc;     // [K, 4, H*W]: (Re x, Im x, Re y, Im y)
    private readonly double[] _cos;     // [N, K]
    private readonly double[] _sin;
    private readonly double[] _batch;   // [BatchSize, 2, H*W]: x plane then y plane per flow
    private readonly int[] _batchT = new int[BatchSize];
    private int _batchCount;

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
        _batch = new double[BatchSize * 2 * width * height];
    }

    public int Width { get; }
    public int Height { get; }
    public int N { get; }
    public int K { get; }

    public void Clear()
    {
        Array.Clear(_acc);
        _batchCount = 0;
    }

    /// <summary>Adds displacement F_t (t = 1 … N; interleaved x, y per pixel, as OpenCV's CV_32FC2) with weight e^{−2πik(t−1)/N}.</summary>
    public void Add(int t, ReadOnlySpan<float> flowXY)
    {
        if (t < 1 || t > N)
            throw new ArgumentOutOfRangeException(nameof(t), t, $"t must be 1..{N}");
        var plane = Width * Height;
        if (flowXY.Length != 2 * plane)
            throw new ArgumentException($"flow has {flowXY.Length} floats, expected {2 * plane}");
        var fx = _batch.AsSpan(_batchCount * 2 * plane, plane);
        var fy = _batch.AsSpan(_batchCount * 2 * plane + plane, plane);
        for (var p = 0; p < plane; p++)
        {
            fx[p] = flowXY[2 * p];
            fy[p] = flowXY[2 * p + 1];
        }
        _batchT[_batchCount++] = t;
        if (_batchCount == BatchSize)
            Flush();
    }

    private void Flush()
    {
        if (_batchCount == 0)
            return;
        var plane = Width * Height;
        Span<double> c = stackalloc double[BatchSize];
        Span<double> sn = stackalloc double[BatchSize];
        ref var acc = ref MemoryMarshal.GetArrayDataReference(_acc);
        ref var batch = ref MemoryMarshal.GetArrayDataReference(_batch);
        var lanes = Vector<double>.Count;
        var vectorEnd = plane - plane % lanes;
        for (var k = 0; k < K; k++)
        {
            for (var b = 0; b < _batchCount; b++)
            {
                var n = _batchT[b] - 1;
                c[b] = _cos[n * K + k];
                sn[b] = -_sin[n * K + k];
            }
            var baseIndex = k * 4 * plane;
            // Each accumulator vector is loaded once per batch and updated by every flow in it.
            for (var i = 0; i < vectorEnd; i += lanes)
            {
                var reX = Vector.LoadUnsafe(ref acc, (nuint)(baseIndex + i));
                var imX = Vector.LoadUnsafe(ref acc, (nuint)(baseIndex + plane + i));
                var reY = Vector.LoadUnsafe(ref acc, (nuint)(baseIndex + 2 * plane + i));
                var imY = Vector.LoadUnsafe(ref acc, (nuint)(baseIndex + 3 * plane + i));
                for (var b = 0; b < _batchCount; b++)
                {
                    var x = Vector.LoadUnsafe(ref batch, (nuint)(b * 2 * plane + i));
                    var y = Vector.LoadUnsafe(ref batch, (nuint)(b * 2 * plane + plane + i));
                    var vc = new Vector<double>(c[b]);
                    var vs = new Vector<double>(sn[b]);
                    reX += vc * x;
                    imX += vs * x;
                    reY += vc * y;
                    imY += vs * y;
                }
                reX.StoreUnsafe(ref acc, (nuint)(baseIndex + i));
                imX.StoreUnsafe(ref acc, (nuint)(baseIndex + plane + i));
                reY.StoreUnsafe(ref acc, (nuint)(baseIndex + 2 * plane + i));
                imY.StoreUnsafe(ref acc, (nuint)(baseIndex + 3 * plane + i));
            }
            for (var i = vectorEnd; i < plane; i++)
            {
                for (var b = 0; b < _batchCount; b++)
                {
                    var x = _batch[b * 2 * plane + i];
                    var y = _batch[b * 2 * plane + plane + i];
                    _acc[baseIndex + i] += c[b] * x;
                    _acc[baseIndex + plane + i] += sn[b] * x;
                    _acc[baseIndex + 2 * plane + i] += c[b] * y;
                    _acc[baseIndex + 3 * plane + i] += sn[b] * y;
                }
            }
        }
        _batchCount = 0;
    }

    /// <summary>Adds another accumulator of the same clip (a disjoint set of t).</summary>
    public void AddFrom(SpectralAccumulator other)
    {
        if (other._acc.Length != _acc.Length || other.N != N)
            throw new ArgumentException("accumulators differ in shape");
        Flush();
        other.Flush();
        Axpy(1.0, other._acc, _acc);
    }

    /// <summary>The volume as fp16 <c>[K, 4, H, W]</c>.</summary>
    public Half[] ToHalf()
    {
        Flush();
        var result = new Half[_acc.Length];
        for (var i = 0; i < _acc.Length; i++)
            result[i] = (Half)_acc[i];
        return result;
    }

    /// <summary>The volume in double precision <c>[K, 4, H, W]</c> (a copy).</summary>
    public double[] ToDouble()
    {
        Flush();
        return (double[])_acc.Clone();
    }

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
