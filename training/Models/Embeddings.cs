using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// Diffusion timestep embedding: the sinusoidal features of LDM's <c>timestep_embedding</c>
/// (<c>[cos(t·f_i), sin(t·f_i)]</c>, <c>f_i = 10000^(−i/half)</c>) through <c>linear_1</c>-SiLU-<c>linear_2</c>:
/// <c>[B]</c> → <c>[B, E]</c>.
/// </summary>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly AutocastLinear linear_1;
    private readonly AutocastLinear linear_2;
    private readonly long _sinusoidDim;

    public TimestepEmbedding(long sinusoidDim, long embedDim) : base(nameof(TimestepEmbedding))
    {
        if (sinusoidDim <= 0 || sinusoidDim % 2 != 0)
            throw new ArgumentException($"sinusoidal embedding width {sinusoidDim} must be positive and even");
        _sinusoidDim = sinusoidDim;
        linear_1 = new AutocastLinear(sinusoidDim, embedDim);
        linear_2 = new AutocastLinear(embedDim, embedDim);
        register_module(nameof(linear_1), linear_1);
        register_module(nameof(linear_2), linear_2);
    }

    public override Tensor forward(Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var features = Sinusoidal(timesteps, _sinusoidDim);
        return linear_2.call(nn.functional.silu(linear_1.call(features))).MoveToOuterDisposeScope();
    }

    /// <summary><c>[B]</c> (integer or float steps) → <c>[B, dim]</c>: cosines then sines.</summary>
    public static Tensor Sinusoidal(Tensor timesteps, long dim)
    {
        using var scope = NewDisposeScope();
        var half = dim / 2;
        var freqs = exp(arange(half, dtype: ScalarType.Float32, device: timesteps.device).mul(-Math.Log(10000.0) / half));
        var args = timesteps.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        return cat([cos(args), sin(args)], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Learned embedding of the frequency bin index k, added to the timestep embedding so one U-Net serves
/// every slice (paper §4.2): <c>[B]</c> (int64 k) → <c>[B, E]</c>.
/// </summary>
public sealed class FrequencyEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Embedding embedding;

    public FrequencyEmbedding(long frequencies, long embedDim) : base(nameof(FrequencyEmbedding))
    {
        embedding = nn.Embedding(frequencies, embedDim);
        register_module(nameof(embedding), embedding);
    }

    public override Tensor forward(Tensor k) => embedding.call(k);
}
