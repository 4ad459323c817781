using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// The DDPM forward process over T steps (1000 in LDM): β linear in t, or "scaled_linear" (linear in √β, LDM's
/// default 0.00085 → 0.012); ᾱ_t = Π (1 − β). Separate from the models; holds only CPU float64 tables.
/// </summary>
public sealed class NoiseSchedule : IDisposable
{
    public NoiseSchedule(long timesteps, string kind, double betaStart, double betaEnd)
    {
        if (timesteps <= 0) throw new ArgumentOutOfRangeException(nameof(timesteps), $"{timesteps} steps");
        Betas = kind switch
        {
            "linear" => linspace(betaStart, betaEnd, timesteps, dtype: ScalarType.Float64),
            "scaled_linear" => linspace(Math.Sqrt(betaStart), Math.Sqrt(betaEnd), timesteps, dtype: ScalarType.Float64).pow(2),
            _ => throw new ArgumentException($"beta schedule '{kind}' is not linear or scaled_linear", nameof(kind)),
        };
        using var alphas = 1.0 - Betas;
        AlphasCumprod = alphas.cumprod(0);
        Timesteps = timesteps;
    }

    public NoiseSchedule(UNetConfig c) : this(c.Timesteps, c.BetaSchedule, c.BetaStart, c.BetaEnd) { }

    public long Timesteps { get; }

    /// <summary><c>[T]</c> float64.</summary>
    public Tensor Betas { get; }

    /// <summary><c>[T]</c> float64, ᾱ_t.</summary>
    public Tensor AlphasCumprod { get; }

    /// <summary>q(x_t | x_0) sample: <c>√ᾱ_t·x0 + √(1−ᾱ_t)·ε</c>, t <c>[B]</c> int64, x0 and noise <c>[B, …]</c>.</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor t)
    {
        using var scope = NewDisposeScope();
        var shape = new long[x0.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        var a = AlphasCumprod.index_select(0, t.cpu()).to(x0.dtype).to(x0.device).reshape(shape);
        return (a.sqrt() * x0 + (1.0 - a).sqrt() * noise).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Betas.Dispose();
        AlphasCumprod.Dispose();
    }
}
