using GidCluster.Inference.Models;
using GidCluster.Inference.Sampling;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

/// <summary>
/// Motion self-guidance (paper Eq. 5). No trained model exists yet (the issue asks for the demo's model), so the
/// ≤ 0.1× criterion is checked where the prior can express loops: a Gaussian prior over spectral volumes with its
/// exact ε-predictor. On a tiny untrained model, whose random decoder cannot produce most volumes, guidance still
/// has to lower L_g for the same seeds.
/// </summary>
public sealed class LoopGuidanceTests
{
    [Fact]
    public void On_a_gaussian_prior_guided_samples_loop_at_least_ten_times_better_from_the_same_seeds()
    {
        using var schedule = new NoiseSchedule(1000, "scaled_linear", 0.00085, 0.012);
        var alphas = schedule.AlphasCumprod.data<double>().ToArray();
        Tensor Optimal(Tensor x, Tensor t)
        {
            var a = alphas[t[0].item<long>()];
            return Math.Sqrt(1 - a) * x; // data ~ N(0, 1): E[ε | x_t] = √(1−ᾱ)·x_t / (ᾱ + 1 − ᾱ)
        }
        const int frames = 40;
        const double scale = 50; // volumes in the dataset's units (pixels × N)
        Tensor Loss(Tensor x0) => MotionTexture.LoopLoss(x0 * scale, frames).sum();
        long[] shape = [4, 16, 4, 4, 4];
        using var plain = DdimSampler.Sample(schedule, shape, Optimal, new DdimOptions(50), new Generator(1));
        using var guided = DdimSampler.Sample(schedule, shape, Optimal, new DdimOptions(50), new Generator(1), new SelfGuidance(Loss, Weight: 1, Recurrence: 2));
        var lp = MotionTexture.LoopLoss(plain * scale, frames).data<float>().ToArray();
        var lg = MotionTexture.LoopLoss(guided * scale, frames).data<float>().ToArray();
        var ratios = lp.Zip(lg, (p, g) => g / p).ToArray();
        Assert.True(ratios.All(r => r <= 0.1), $"L_g guided / unguided: {string.Join(", ", ratios.Select(r => r.ToString("0.000")))}");
        // Still samples of the prior, not a collapse onto a trivially looping volume.
        Assert.InRange(guided.std().item<float>() / plain.std().item<float>(), 0.9, 1.1);
    }

    [Fact]
    public void On_a_tiny_untrained_model_guidance_lowers_the_loop_loss_for_the_same_seeds()
    {
        using var dir = Paths.NewTempDir("gid-loop");
        TinyModels.Write(dir.Path, seed: 13, width: 32, height: 16); // small frames: the guidance backpropagates through the VAE decoder
        using var model = ModelBundle.Load(dir.Path);
        using var image = cat([TinyModels.Picture(1, 32, 16), TinyModels.Picture(2, 32, 16)], 0);
        const int frames = 40, steps = 8;
        var period = model.Description.PeriodFrames;
        using var plain = VolumeSampler.Sample(model, image, new VolumeSampling(steps, Seed: 1));
        using var guided = VolumeSampler.Sample(model, image, new VolumeSampling(steps, Seed: 1, Loop: new LoopOptions(frames, Steps: steps)));
        var lp = MotionTexture.LoopLoss(plain, frames, period).data<float>().ToArray();
        var lg = MotionTexture.LoopLoss(guided, frames, period).data<float>().ToArray();
        var ratios = lp.Zip(lg, (p, g) => g / p).ToArray();
        Assert.True(ratios.All(r => r < 0.95), $"L_g guided / unguided (u = 200): {string.Join(", ", ratios.Select(r => r.ToString("0.000")))}");
    }
}
