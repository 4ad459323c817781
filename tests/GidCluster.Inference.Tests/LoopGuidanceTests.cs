using GidCluster.Inference.Models;
using GidCluster.Inference.Motion;
using GidCluster.Inference.Sampling;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

/// <summary>
/// Motion self-guidance (paper Eq. 5) on a tiny untrained model (no trained model exists yet; the issue asks for
/// the demo's model): the loop loss L_g of guided samples against unguided ones from the same seeds.
/// </summary>
public sealed class LoopGuidanceTests
{
    [Fact]
    public void Guided_samples_loop_at_least_ten_times_better_than_unguided_ones_from_the_same_seeds()
    {
        using var dir = Paths.NewTempDir("gid-loop");
        TinyModels.Write(dir.Path, seed: 13, width: 32, height: 16); // small frames: the guidance backpropagates through the VAE decoder
        using var model = ModelBundle.Load(dir.Path);
        using var image = cat([TinyModels.Picture(1, 32, 16), TinyModels.Picture(2, 32, 16)], 0);
        const int frames = 40, steps = 8;
        var period = model.Description.PeriodFrames;
        var ratios = new List<double>();
        foreach (var seed in new long[] { 1 })
        {
            using var plain = VolumeSampler.Sample(model, image, new VolumeSampling(steps, Seed: seed));
            using var guided = VolumeSampler.Sample(model, image, new VolumeSampling(steps, Seed: seed, Loop: new LoopOptions(frames, Steps: steps)));
            using var lPlain = MotionTexture.LoopLoss(plain, frames, period);
            using var lGuided = MotionTexture.LoopLoss(guided, frames, period);
            var (p, g) = (lPlain.data<float>().ToArray(), lGuided.data<float>().ToArray());
            for (var i = 0; i < p.Length; i++)
            {
                Assert.True(p[i] > 0.05, $"unguided L_g {p[i]} is too small to compare");
                ratios.Add(g[i] / p[i]);
            }
        }
        Assert.True(ratios.All(r => r <= 0.1), $"L_g guided / unguided: {string.Join(", ", ratios.Select(r => r.ToString("0.0000")))}");
    }
}
