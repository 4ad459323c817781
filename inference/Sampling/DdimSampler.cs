using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Sampling;

/// <summary>Sampling settings: DDIM steps and η (0 = deterministic DDIM, 1 with all steps = DDPM's ancestral sampler).</summary>
public sealed record DdimOptions(int Steps = 250, double Eta = 0)
{
    public void Validate(long timesteps)
    {
        if (Steps < 1 || Steps > timesteps) throw new ArgumentOutOfRangeException(nameof(Steps), $"steps {Steps}: must be 1…{timesteps}");
        if (Eta < 0 || !double.IsFinite(Eta)) throw new ArgumentOutOfRangeException(nameof(Eta), $"eta {Eta}: must be ≥ 0");
    }
}

/// <summary>
/// Guidance toward a goal on the clean estimate (universal guidance's forward step, paper Eq. 5): at each step the
/// noise estimate becomes ε + u·∇_z L(x̂₀(z)), with ε held fixed (the gradient runs through the decoder and what
/// follows it, not back through the U-Net), repeated <see cref="Recurrence"/> times per step with the result
/// noised back to the step's level in between (self-recurrence).
/// </summary>
public sealed record SelfGuidance(Func<Tensor, Tensor> Loss, double Weight = 200, int Recurrence = 1)
{
    public void Validate()
    {
        if (Weight < 0 || !double.IsFinite(Weight)) throw new ArgumentOutOfRangeException(nameof(Weight), $"guidance weight {Weight}: must be ≥ 0");
        if (Recurrence < 1) throw new ArgumentOutOfRangeException(nameof(Recurrence), $"self-recurrence {Recurrence}: must be ≥ 1");
    }
}

/// <summary>
/// DDIM (Song et al., 2021) over a <see cref="NoiseSchedule"/>: from x_T ~ N(0, I) down the timesteps
/// ⌊i·T/S⌋ (i = S−1 … 0), with ᾱ = 1 after the last, each step
/// <c>x̂₀ = (x − √(1−ᾱ_t)·ε)/√ᾱ_t</c>, <c>x_prev = √ᾱ_prev·x̂₀ + √(1−ᾱ_prev−σ²)·ε + σ·z</c>,
/// <c>σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_prev)</c>. Noise comes from one seeded generator, so a seed fixes the sample.
/// </summary>
public static class DdimSampler
{
    /// <summary>The S timesteps used, from the noisiest: ⌊i·T/S⌋ for i = S−1 … 0.</summary>
    public static long[] Timesteps(long timesteps, int steps) =>
        Enumerable.Range(0, steps).Reverse().Select(i => (long)Math.Floor((double)i * timesteps / steps)).ToArray();

    /// <summary>
    /// A sample of <paramref name="shape"/> (batch first). <paramref name="epsilon"/> maps (x_t, t <c>[B]</c> int64)
    /// to the noise estimate (guidance already applied); <paramref name="progress"/> gets (done, total) after each step;
    /// <paramref name="start"/> replaces the N(0, I) draw of x_T.
    /// </summary>
    public static Tensor Sample(NoiseSchedule schedule, long[] shape, Func<Tensor, Tensor, Tensor> epsilon, DdimOptions options, Generator generator,
        SelfGuidance? guidance = null, Action<int, int>? progress = null, Tensor? start = null)
    {
        options.Validate(schedule.Timesteps);
        guidance?.Validate();
        var steps = Timesteps(schedule.Timesteps, options.Steps);
        var alphas = schedule.AlphasCumprod.data<double>().ToArray();
        var x = start?.clone() ?? randn(shape, generator: generator);
        for (var i = 0; i < steps.Length; i++)
        {
            using var scope = NewDisposeScope();
            var t = steps[i];
            var a = alphas[t];
            var aPrev = i + 1 < steps.Length ? alphas[steps[i + 1]] : 1.0;
            var sigma = options.Eta * Math.Sqrt((1 - aPrev) / (1 - a)) * Math.Sqrt(1 - a / aPrev);
            var tb = full(shape[0], t, dtype: ScalarType.Int64);
            var rounds = guidance?.Recurrence ?? 1;
            Tensor prev = x;
            for (var r = 0; r < rounds; r++)
            {
                var eps = epsilon(x, tb);
                if (guidance is not null && guidance.Weight > 0)
                    eps = eps + guidance.Weight * GuidanceGradient(guidance, x, eps, a);
                var x0 = (x - Math.Sqrt(1 - a) * eps) / Math.Sqrt(a);
                prev = Math.Sqrt(aPrev) * x0 + Math.Sqrt(Math.Max(0, 1 - aPrev - sigma * sigma)) * eps;
                if (sigma > 0) prev = prev + sigma * randn(shape, dtype: x.dtype, generator: generator);
                if (r + 1 < rounds) // self-recurrence: back to step t's noise level, then the step again
                    x = Math.Sqrt(a / aPrev) * prev + Math.Sqrt(1 - a / aPrev) * randn(shape, dtype: x.dtype, generator: generator);
            }
            var next = prev.detach().MoveToOuterDisposeScope();
            if (i > 0) x.Dispose();
            x = next;
            progress?.Invoke(i + 1, steps.Length);
        }
        return x;
    }

    /// <summary>∇_x L(x̂₀) with ε held fixed: ∂x̂₀/∂x = 1/√ᾱ_t.</summary>
    private static Tensor GuidanceGradient(SelfGuidance guidance, Tensor x, Tensor eps, double a)
    {
        using var scope = NewDisposeScope();
        using var enabled = enable_grad();
        var x0 = ((x.detach() - Math.Sqrt(1 - a) * eps.detach()) / Math.Sqrt(a)).requires_grad_(true);
        var loss = guidance.Loss(x0);
        var grad = autograd.grad([loss], [x0])[0];
        return (grad / Math.Sqrt(a)).detach().MoveToOuterDisposeScope();
    }
}
