using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// The motion texture of a spectral volume (paper §3, ARCHITECTURE.md §1.3): the inverse of dataprep's DFT
/// (numpy's convention over n = 0 … N−1 of F_{n+1}, bins k = 0 … K−1) with only the first K bins kept,
/// <c>F(τ) = (1/N)[S_0 + 2 Σ_{k≥1} Re(S_k e^{2πik(τ−1)/N})]</c>, evaluated at any real time τ in frames
/// (τ = 1 is the first flow of the training data; fractional τ gives slow motion). Tensor ops, differentiable in S.
/// Lives in training because the renderer's trainer takes its flows F_t from it and inference renders with it: one formula for both.
/// Volumes are <c>[B, K, 4, H, W]</c> with channels (Re x, Im x, Re y, Im y); displacements <c>[B, T, 2, H, W]</c> (x, y) in pixels.
/// </summary>
public static class MotionTexture
{
    /// <summary>The period N of the decomposition in frames (149: dataprep's clip length).</summary>
    public const int DefaultPeriod = 149;

    /// <summary>F(τ) for each time in <paramref name="times"/>; <paramref name="derivative"/> gives dF/dτ (pixels per frame) instead.</summary>
    public static Tensor Displacements(Tensor volume, IReadOnlyList<double> times, int period = DefaultPeriod, bool derivative = false)
    {
        if (volume.dim() != 5 || volume.shape[2] != 4)
            throw new ArgumentException($"spectral volume must be [B, K, 4, H, W], got [{string.Join(", ", volume.shape)}]", nameof(volume));
        if (period < 2 * volume.shape[1] - 1)
            throw new ArgumentException($"period {period} frames is too short for {volume.shape[1]} bins", nameof(period));
        using var scope = NewDisposeScope();
        var (b, k, h, w) = (volume.shape[0], volume.shape[1], volume.shape[3], volume.shape[4]);
        var (cosine, sine) = Basis(times, (int)k, period, derivative);
        var c = tensor(cosine, [times.Count, k], dtype: volume.dtype, device: volume.device);
        var s = tensor(sine, [times.Count, k], dtype: volume.dtype, device: volume.device);
        var v = volume.reshape(b, k, 2, 2, h * w);     // [B, K, axis, (Re, Im), P]
        var re = v.select(3, 0).reshape(b, k, 2 * h * w);
        var im = v.select(3, 1).reshape(b, k, 2 * h * w);
        // Re(S e^{iφ}) = Re S·cos φ − Im S·sin φ, summed over bins with weights 1/N (DC) and 2/N.
        var f = matmul(c, re) - matmul(s, im);         // [T, K] @ [B, K, 2P] → [B, T, 2P]
        return f.reshape(b, times.Count, 2, h, w).MoveToOuterDisposeScope();
    }

    /// <summary>Per time and bin: the weights multiplying Re S_k and −Im S_k (or their τ-derivatives).</summary>
    private static (double[] Cosine, double[] Sine) Basis(IReadOnlyList<double> times, int bins, int period, bool derivative)
    {
        var cosine = new double[times.Count * bins];
        var sine = new double[times.Count * bins];
        for (var i = 0; i < times.Count; i++)
        {
            for (var k = 0; k < bins; k++)
            {
                var weight = (k == 0 ? 1.0 : 2.0) / period;
                var omega = 2 * Math.PI * k / period;
                var phase = omega * (times[i] - 1);
                var (sn, cs) = Math.SinCos(phase);
                // d/dτ cos(ωτ') = −ω sin, d/dτ sin(ωτ') = ω cos.
                cosine[i * bins + k] = derivative ? -weight * omega * sn : weight * cs;
                sine[i * bins + k] = derivative ? weight * omega * cs : weight * sn;
            }
        }
        return (cosine, sine);
    }

    /// <summary>The frame times of a video: τ_j = 1 + j/<paramref name="slowmo"/> for j = 0 … frames−1.</summary>
    public static double[] FrameTimes(int frames, double slowmo = 1)
    {
        if (frames < 1) throw new ArgumentOutOfRangeException(nameof(frames), $"{frames} frames");
        if (!(slowmo > 0) || !double.IsFinite(slowmo)) throw new ArgumentOutOfRangeException(nameof(slowmo), $"slow-motion factor {slowmo}: must be > 0");
        return Enumerable.Range(0, frames).Select(j => 1 + j / slowmo).ToArray();
    }

    /// <summary>
    /// The looping objective of paper Eq. 5 for a loop of <paramref name="frames"/> frames: per sample, the L1 norms
    /// ‖F_T − F_1‖₁ + ‖F'_T − F'_1‖₁ summed over pixels and both axes (position and velocity at the ends; a sum,
    /// so each latent element's gradient does not shrink with the picture's size); <c>[B, K, 4, H, W]</c> → <c>[B]</c>.
    /// </summary>
    public static Tensor LoopLoss(Tensor volume, int frames, int period = DefaultPeriod)
    {
        using var scope = NewDisposeScope();
        double[] ends = [1, frames];
        var position = Displacements(volume, ends, period);
        var velocity = Displacements(volume, ends, period, derivative: true);
        var dp = (position.select(1, 1) - position.select(1, 0)).abs().flatten(1).sum([1]);
        var dv = (velocity.select(1, 1) - velocity.select(1, 0)).abs().flatten(1).sum([1]);
        return (dp + dv).MoveToOuterDisposeScope();
    }

    /// <summary>The splatting weight W(p) = mean over one period of ‖F_τ(p)‖ (paper §5): <c>[B, K, 4, H, W]</c> → <c>[B, 1, H, W]</c>.</summary>
    public static Tensor Importance(Tensor volume, int period = DefaultPeriod)
    {
        using var scope = NewDisposeScope();
        var times = Enumerable.Range(1, period).Select(t => (double)t).ToArray();
        return SoftmaxSplatting.Importance(Displacements(volume, times, period)).MoveToOuterDisposeScope();
    }
}
