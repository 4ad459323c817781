using System.Numerics;
using static TorchSharp.torch;

namespace GidCluster.Inference.Motion;

/// <summary>
/// Interactive dynamics from a spectral volume (paper Eq. 6, after Davis et al.): bins k = 1 … K−1 are an image-space
/// modal basis B_k(p) = (2/N)·S_k(p) ∈ ℂ² (so q_k = e^{iθ} replays bin k of the motion texture), with
/// ω_k = 2π·f_k. A drag at pixel p with vector d pushes each mode with f_k = g·B_k(p)ᴴ d; each complex modal
/// coordinate follows q̈ + 2ξ_kω_k q̇ + ω_k² q = f_k, ξ_k = α/ω_k (one decay rate α for all modes), advanced by
/// the exact solution over each step (constant force within a step): stable for any step and damping, and
/// energy-conserving when α = 0. The gain g makes a held drag settle with p displaced by |d| along d.
/// The displacement field is F(p, t) = Re Σ_k B_k(p) q_k(t).
/// </summary>
public sealed class ModalDynamics : IDisposable
{
    private readonly Tensor _basisTensor; // [2 axes, M·(Re, Im), H·W]: one matrix product per frame gives the field
    private readonly float[] _basis;       // [M, 4, H·W]: Re x, Im x, Re y, Im y of B_k per mode
    private readonly double[] _omega;
    private readonly Complex[] _q;
    private readonly Complex[] _v;
    private readonly Complex[] _force;

    /// <param name="volume">Raw spectral volume <c>[K, 4, H, W]</c>.</param>
    /// <param name="frequenciesHz">f_k per bin (model.json's frequencies_hz).</param>
    /// <param name="period">N, frames of the decomposition.</param>
    /// <param name="decayPerSecond">α ≥ 0, below the lowest mode's ω (underdamped).</param>
    public ModalDynamics(Tensor volume, IReadOnlyList<double> frequenciesHz, int period, double decayPerSecond)
    {
        if (volume.dim() != 4 || volume.shape[1] != 4)
            throw new ArgumentException($"spectral volume must be [K, 4, H, W], got [{string.Join(", ", volume.shape)}]", nameof(volume));
        var k = (int)volume.shape[0];
        if (frequenciesHz.Count != k) throw new ArgumentException($"{frequenciesHz.Count} frequencies for {k} bins", nameof(frequenciesHz));
        Modes = k - 1;
        Height = (int)volume.shape[2];
        Width = (int)volume.shape[3];
        _omega = frequenciesHz.Skip(1).Select(f => 2 * Math.PI * f).ToArray();
        if (_omega.Any(w => !(w > 0))) throw new ArgumentException("every bin above 0 needs a positive frequency", nameof(frequenciesHz));
        if (!(decayPerSecond >= 0) || decayPerSecond >= _omega.Min())
            throw new ArgumentOutOfRangeException(nameof(decayPerSecond), $"decay {decayPerSecond}/s: must be ≥ 0 and below the lowest mode's ω {_omega.Min():0.###} rad/s");
        Decay = decayPerSecond;
        using (var b = volume.narrow(0, 1, Modes).to(ScalarType.Float32).mul(2.0 / period).contiguous())
        {
            _basis = b.data<float>().ToArray();
            _basisTensor = b.reshape(Modes, 2, 2, Height * Width).permute(1, 0, 2, 3).reshape(2, Modes * 2, Height * Width).contiguous();
        }
        _q = new Complex[Modes];
        _v = new Complex[Modes];
        _force = new Complex[Modes];
    }

    public int Modes { get; }
    public int Width { get; }
    public int Height { get; }
    public double Decay { get; }
    public double Time { get; private set; }

    private int Pixels => Width * Height;

    private Complex Basis(int mode, int axis, int pixel) =>
        new(_basis[(mode * 4 + 2 * axis) * Pixels + pixel], _basis[(mode * 4 + 2 * axis + 1) * Pixels + pixel]);

    /// <summary>Starts (or changes) a drag at pixel (x, y) by (dx, dy) pixels: a constant modal force until <see cref="Release"/>.</summary>
    public void Drag(int x, int y, double dx, double dy)
    {
        if (x < 0 || x >= Width || y < 0 || y >= Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"drag point ({x}, {y}) is outside the {Width}×{Height} picture");
        var p = y * Width + x;
        // Static response at p to unit force along d: dᵀ Re Σ B B^H d / ω² / |d|²; the gain inverts it.
        var d2 = dx * dx + dy * dy;
        double response = 0;
        var raw = new Complex[Modes];
        for (var m = 0; m < Modes; m++)
        {
            var (bx, by) = (Basis(m, 0, p), Basis(m, 1, p));
            raw[m] = Complex.Conjugate(bx) * dx + Complex.Conjugate(by) * dy;   // B_k(p)ᴴ d
            response += raw[m].Magnitude * raw[m].Magnitude / (_omega[m] * _omega[m]);
        }
        var gain = response > 1e-12 && d2 > 0 ? d2 / response : 0; // a point that does not move in any mode cannot be dragged
        for (var m = 0; m < Modes; m++)
            _force[m] = gain * raw[m];
    }

    public void Release() => Array.Clear(_force);

    /// <summary>Advances by <paramref name="dt"/> seconds: per mode, the exact damped response with the current force held constant.</summary>
    public void Step(double dt)
    {
        if (!(dt > 0)) throw new ArgumentOutOfRangeException(nameof(dt), $"time step {dt}");
        for (var m = 0; m < Modes; m++)
        {
            var w = _omega[m];
            var a = Decay;
            var wd = Math.Sqrt(w * w - a * a);
            var (s, c) = Math.SinCos(wd * dt);
            var e = Math.Exp(-a * dt);
            var x0 = _q[m] - _force[m] / (w * w);    // about the forced equilibrium
            var v0 = _v[m];
            _q[m] = _force[m] / (w * w) + e * (x0 * c + (v0 + a * x0) / wd * s);
            _v[m] = e * (v0 * c - (w * w * x0 + a * v0) / wd * s);
        }
        Time += dt;
    }

    /// <summary>Σ_k ½(|q̇_k|² + ω_k²|q_k|²): the modal energy (unit modal masses).</summary>
    public double Energy()
    {
        double e = 0;
        for (var m = 0; m < Modes; m++)
            e += 0.5 * (Sq(_v[m]) + _omega[m] * _omega[m] * Sq(_q[m]));
        return e;
        static double Sq(Complex z) => z.Real * z.Real + z.Imaginary * z.Imaginary;
    }

    /// <summary>F(p) at one pixel: Re Σ_k B_k(p) q_k.</summary>
    public (double X, double Y) DisplacementAt(int x, int y)
    {
        var p = y * Width + x;
        double fx = 0, fy = 0;
        for (var m = 0; m < Modes; m++)
        {
            fx += (Basis(m, 0, p) * _q[m]).Real;
            fy += (Basis(m, 1, p) * _q[m]).Real;
        }
        return (fx, fy);
    }

    /// <summary>The whole displacement field <c>[1, 2, H, W]</c> (x, y): per axis Σ_k Re(B_k) Re(q_k) − Im(B_k) Im(q_k), as one matrix product.</summary>
    public Tensor Displacements()
    {
        using var scope = NewDisposeScope();
        var weights = new float[Modes * 2];
        for (var m = 0; m < Modes; m++)
        {
            weights[m * 2] = (float)_q[m].Real;
            weights[m * 2 + 1] = (float)-_q[m].Imaginary;
        }
        var w = tensor(weights, [1, 1, Modes * 2]);
        return matmul(w, _basisTensor).reshape(1, 2, Height, Width).MoveToOuterDisposeScope();
    }

    public void Dispose() => _basisTensor.Dispose();
}
