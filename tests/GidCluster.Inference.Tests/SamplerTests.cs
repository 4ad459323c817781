using GidCluster.Inference.Models;
using GidCluster.Inference.Sampling;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

public sealed class SamplerTests : IClassFixture<SamplerTests.Folder>
{
    public sealed class Folder : IDisposable
    {
        private readonly TempDir _dir = Paths.NewTempDir("gid-sampler");
        public Folder() => TinyModels.Write(_dir.Path, seed: 11);
        public string Path => _dir.Path;
        public void Dispose() => _dir.Dispose();
    }

    private readonly Folder _folder;
    public SamplerTests(Folder folder) => _folder = folder;

    [Fact]
    public void The_same_seed_gives_the_same_volume_and_another_seed_another()
    {
        using var model = ModelBundle.Load(_folder.Path);
        using var image = TinyModels.Picture();
        using var a = VolumeSampler.Sample(model, image, new VolumeSampling(Steps: 4, Seed: 7));
        using var b = VolumeSampler.Sample(model, image, new VolumeSampling(Steps: 4, Seed: 7));
        using var c = VolumeSampler.Sample(model, image, new VolumeSampling(Steps: 4, Seed: 8));
        Assert.Equal([1, 16, 4, TinyModels.Height, TinyModels.Width], a.shape);
        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(a.allclose(c));
        Assert.True(a.isfinite().all().item<bool>());
    }

    [Fact]
    public void With_w_zero_only_the_conditional_model_counts()
    {
        using var model = ModelBundle.Load(_folder.Path);
        using var image = TinyModels.Picture();
        using var plain0 = VolumeSampler.Sample(model, image, new VolumeSampling(Steps: 4, Guidance: 0, Seed: 3));
        using var plainW = VolumeSampler.Sample(model, image, new VolumeSampling(Steps: 4, Seed: 3));
        // Change what the unconditional half sees (the learned null condition): w = 0 must not notice, w = 1.75 must.
        using (no_grad())
            model.Stage1.get_parameter("null_cond")!.add_(0.5);
        using var moved0 = VolumeSampler.Sample(model, image, new VolumeSampling(Steps: 4, Guidance: 0, Seed: 3));
        using var movedW = VolumeSampler.Sample(model, image, new VolumeSampling(Steps: 4, Seed: 3));
        Assert.True(plain0.allclose(moved0, rtol: 1e-5, atol: 1e-6), $"max diff {(plain0 - moved0).abs().max().item<float>()}");
        Assert.False(plainW.allclose(movedW, rtol: 1e-3, atol: 1e-4));
    }

    /// <summary>
    /// Data x₀ ~ N(μ, s²): the exact ε-predictor is E[ε | x_t] = √(1−ᾱ)(x − √ᾱ μ)/(ᾱ s² + 1 − ᾱ). Started from the
    /// true marginal of x_T, DDIM (η = 0) over all 1000 steps and DDPM's ancestral sampler must both give back N(μ, s²).
    /// Started from N(0, 1), DDIM's probability-flow map is x₀ = μ + (x_T − √ᾱ_T μ)·s/√(ᾱ_T s² + 1 − ᾱ_T).
    /// </summary>
    [Fact]
    public void Ddim_over_all_steps_matches_ancestral_sampling_on_a_gaussian()
    {
        const double mu = 2.0, s = 0.5;
        const int n = 20000;
        using var schedule = new NoiseSchedule(1000, "scaled_linear", 0.00085, 0.012);
        var alphas = schedule.AlphasCumprod.data<double>().ToArray();
        Tensor Optimal(Tensor x, Tensor t)
        {
            var a = alphas[t[0].item<long>()];
            return Math.Sqrt(1 - a) * (x - Math.Sqrt(a) * mu) / (a * s * s + 1 - a);
        }
        var aT = alphas[999];
        var spread = Math.Sqrt(aT * s * s + 1 - aT);
        using var marginal = randn([n], dtype: ScalarType.Float64, generator: new Generator(5)) * spread + Math.Sqrt(aT) * mu;
        using var ddim = DdimSampler.Sample(schedule, [n], Optimal, new DdimOptions(1000, 0), new Generator(1), start: marginal);
        using var ancestral = DdimSampler.Sample(schedule, [n], Optimal, new DdimOptions(1000, 1), new Generator(2), start: marginal);
        var stats = new[] { ddim, ancestral }.Select(x => (Mean: x.mean().item<double>(), Std: x.std().item<double>())).ToArray();
        // Standard errors: s/√n = 0.0035 for the mean, s/√(2n) = 0.0025 for the standard deviation.
        foreach (var (mean, std) in stats)
        {
            Assert.InRange(mean, mu - 0.015, mu + 0.015);
            Assert.InRange(std, s - 0.012, s + 0.012);
        }
        Assert.InRange(stats[0].Mean - stats[1].Mean, -0.02, 0.02);
        Assert.InRange(stats[0].Std - stats[1].Std, -0.015, 0.015);

        // From N(0, 1): DDIM is the deterministic map above, sample by sample, up to the discretization of the
        // probability-flow ODE into 1000 steps (measured: 0.0105 at most over 20000 samples of spread 0.5).
        using var xT = randn([n], dtype: ScalarType.Float64, generator: new Generator(9));
        using var normal = DdimSampler.Sample(schedule, [n], Optimal, new DdimOptions(1000, 0), new Generator(9), start: xT);
        using var expected = mu + (xT - Math.Sqrt(aT) * mu) * (s / spread);
        Assert.True((normal - expected).abs().max().item<double>() < 0.02, $"max deviation {(normal - expected).abs().max().item<double>()}");
        // DDIM is deterministic: the same start gives the same sample.
        using var again = DdimSampler.Sample(schedule, [n], Optimal, new DdimOptions(1000, 0), new Generator(1), start: marginal);
        Assert.True(ddim.eq(again).all().item<bool>());
    }

    [Fact]
    public void Timesteps_cover_the_schedule_from_the_noisy_end()
    {
        Assert.Equal([750L, 500, 250, 0], DdimSampler.Timesteps(1000, 4));
        Assert.Equal(Enumerable.Range(0, 1000).Reverse().Select(i => (long)i), DdimSampler.Timesteps(1000, 1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DdimOptions(0).Validate(1000));
    }
}
