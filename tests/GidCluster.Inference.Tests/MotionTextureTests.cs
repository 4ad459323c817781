using GidCluster.Dataprep.Synthetic;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

public sealed class MotionTextureTests
{
    /// <summary>
    /// A <c>gid synth</c> video's sidecar holds each region's true coefficients (bins on the DFT grid). Stored as
    /// fp16 (as shards hold them), they give back the region's displacement F_τ = D(s+τ) − D(s) at every frame of the
    /// clip to within what the fp16 rounding of the coefficients can move it: Σ_k c_k(|δRe S_k| + |δIm S_k|).
    /// </summary>
    [Fact]
    public void A_synthetic_videos_true_spectrum_gives_back_its_displacements_within_fp16_rounding()
    {
        using var dir = Paths.NewTempDir("gid-motion");
        var scene = SyntheticScene.Random(seed: 21, width: 128, height: 96, frames: 160, regions: 3);
        SyntheticVideo.Write(scene, Path.Combine(dir.Path, "clip.mp4"));
        var sidecar = SyntheticSidecar.Read(Path.Combine(dir.Path, "clip.json"));
        const int n = 149, bins = 16;
        var times = Enumerable.Range(1, n).Select(t => (double)t).ToArray();
        var checkedRegions = 0;
        foreach (var spectrum in sidecar.Spectra)
        {
            // One "pixel" per region at weight 1: [1, K, 4, 1, 1] in (Re x, Im x, Re y, Im y).
            var exact = new double[bins * 4];
            for (var k = 0; k < bins; k++)
            {
                exact[k * 4 + 0] = spectrum.X[k][0];
                exact[k * 4 + 1] = spectrum.X[k][1];
                exact[k * 4 + 2] = spectrum.Y[k][0];
                exact[k * 4 + 3] = spectrum.Y[k][1];
            }
            var half = exact.Select(v => (double)(Half)v).ToArray();
            var bound = new double[2];
            for (var k = 0; k < bins; k++)
                for (var axis = 0; axis < 2; axis++)
                    bound[axis] += (k == 0 ? 1.0 : 2.0) / n * (Math.Abs(half[k * 4 + 2 * axis] - exact[k * 4 + 2 * axis]) + Math.Abs(half[k * 4 + 2 * axis + 1] - exact[k * 4 + 2 * axis + 1]));
            using var volume = tensor(half, [1, bins, 4, 1, 1], dtype: ScalarType.Float64);
            using var f = MotionTexture.Displacements(volume, times, n);
            var values = f.data<double>().ToArray(); // [1, T, 2, 1, 1]
            for (var t = 1; t <= n; t++)
            {
                var (tx, ty) = scene.Flow(spectrum.Region, 1, spectrum.StartFrame, t);
                Assert.True(Math.Abs(values[(t - 1) * 2] - tx) <= bound[0] + 1e-9, $"region {spectrum.Region} τ={t} x: {values[(t - 1) * 2]} vs {tx} (bound {bound[0]})");
                Assert.True(Math.Abs(values[(t - 1) * 2 + 1] - ty) <= bound[1] + 1e-9, $"region {spectrum.Region} τ={t} y: {values[(t - 1) * 2 + 1]} vs {ty} (bound {bound[1]})");
            }
            Assert.True(bound[0] > 0 && bound[0] < 0.01, $"fp16 bound {bound[0]} px");
            checkedRegions++;
        }
        Assert.True(checkedRegions >= 3, $"{checkedRegions} regions");
    }

    [Fact]
    public void Slow_motion_by_two_samples_the_same_trajectory_twice_as_densely_and_magnification_scales_it()
    {
        using var volume = randn([2, 16, 4, 6, 5], dtype: ScalarType.Float64, generator: new Generator(4)) * 30;
        var normal = MotionTexture.FrameTimes(40);
        var slow = MotionTexture.FrameTimes(80, slowmo: 2);
        using var a = MotionTexture.Displacements(volume, normal);
        using var b = MotionTexture.Displacements(volume, slow);
        using var even = b.index_select(1, arange(0, 80, 2));
        Assert.True(a.allclose(even, rtol: 1e-12, atol: 1e-12));
        // The frames in between lie on the same smooth curve: the midpoint is close to the average of its neighbours.
        using var odd = b.index_select(1, arange(1, 79, 2));
        using var neighbours = (a.narrow(1, 0, 39) + a.narrow(1, 1, 39)) / 2;
        Assert.False(odd.allclose(neighbours, rtol: 0, atol: 1e-9)); // new samples, not a repeat or a linear blend
        using var scale = a.abs().max();
        Assert.True((odd - neighbours).abs().max().item<double>() < scale.item<double>());
        using var doubled = MotionTexture.Displacements(volume * 2, normal);
        Assert.True(doubled.allclose(a * 2, rtol: 1e-12, atol: 1e-12));
    }

    [Fact]
    public void The_velocity_is_the_time_derivative_and_a_full_period_loops()
    {
        using var volume = randn([1, 16, 4, 4, 4], dtype: ScalarType.Float64, generator: new Generator(6));
        const double h = 1e-4;
        using var v = MotionTexture.Displacements(volume, [10.0], derivative: true);
        using var plus = MotionTexture.Displacements(volume, [10.0 + h]);
        using var minus = MotionTexture.Displacements(volume, [10.0 - h]);
        Assert.True(v.allclose((plus - minus) / (2 * h), rtol: 1e-6, atol: 1e-8));
        // The truncated series is N-periodic: a loop of N + 1 frames (F_{N+1} = F_1) has zero loop loss.
        using var loss = MotionTexture.LoopLoss(volume, 150);
        Assert.True(loss.item<double>() < 1e-9);
        using var open = MotionTexture.LoopLoss(volume, 100);
        Assert.True(open.item<double>() > 1e-3);
    }
}
