using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// VAE encoder (LDM's KL autoencoder without attention above the middle): <c>conv_in</c>, per level
/// <c>num_res_blocks</c> ResBlocks then a Downsample (not after the last), <c>mid</c> ResBlock-attention-ResBlock,
/// <c>norm_out</c>-SiLU-<c>conv_out</c> to mean and log-variance: <c>[B, 4, H, W]</c> → <c>[B, 2·Z, H/f, W/f]</c>.
/// </summary>
public sealed class VaeEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ChannelPaddedConv2d conv_in;
    private readonly ModuleList<nn.Module> down = new();
    private readonly MidBlock mid;
    private readonly AutocastGroupNorm norm_out;
    private readonly ChannelPaddedConv2d conv_out;

    public VaeEncoder(VaeConfig c) : base(nameof(VaeEncoder))
    {
        conv_in = Layers.Conv2d(c.InChannels, c.Channels, 3, padding: 1);
        var channels = c.Channels;
        for (var level = 0; level < c.ChannelMult.Length; level++)
        {
            var outChannels = c.Channels * c.ChannelMult[level];
            for (var i = 0; i < c.NumResBlocks; i++)
            {
                down.Add(new ResBlock(channels, outChannels, c.NormGroups));
                channels = outChannels;
            }
            if (level < c.ChannelMult.Length - 1) down.Add(new Downsample(channels));
        }
        mid = new MidBlock(channels, c.AttentionHeads, c.NormGroups);
        norm_out = ResBlock.Norm(c.NormGroups, channels);
        conv_out = Layers.Conv2d(channels, 2 * c.LatentChannels, 3, padding: 1);
        register_module(nameof(conv_in), conv_in);
        register_module(nameof(down), down);
        register_module(nameof(mid), mid);
        register_module(nameof(norm_out), norm_out);
        register_module(nameof(conv_out), conv_out);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.call(x);
        foreach (var layer in down)
            h = layer is ResBlock r ? r.call(h, null) : ((Downsample)layer).call(h);
        h = mid.call(h, null);
        return conv_out.call(nn.functional.silu(norm_out.call(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// VAE decoder, the encoder mirrored (<c>num_res_blocks</c>+1 ResBlocks per level, Upsample between levels):
/// <c>[B, Z, h, w]</c> → <c>[B, 4, h·f, w·f]</c>.
/// </summary>
public sealed class VaeDecoder : nn.Module<Tensor, Tensor>
{
    private readonly ChannelPaddedConv2d conv_in;
    private readonly MidBlock mid;
    private readonly ModuleList<nn.Module> up = new();
    private readonly AutocastGroupNorm norm_out;
    private readonly ChannelPaddedConv2d conv_out;

    public VaeDecoder(VaeConfig c) : base(nameof(VaeDecoder))
    {
        var channels = c.Channels * c.ChannelMult[^1];
        conv_in = Layers.Conv2d(c.LatentChannels, channels, 3, padding: 1);
        mid = new MidBlock(channels, c.AttentionHeads, c.NormGroups);
        for (var level = c.ChannelMult.Length - 1; level >= 0; level--)
        {
            var outChannels = c.Channels * c.ChannelMult[level];
            for (var i = 0; i <= c.NumResBlocks; i++)
            {
                up.Add(new ResBlock(channels, outChannels, c.NormGroups));
                channels = outChannels;
            }
            if (level > 0) up.Add(new Upsample(channels));
        }
        norm_out = ResBlock.Norm(c.NormGroups, channels);
        conv_out = Layers.Conv2d(channels, c.InChannels, 3, padding: 1);
        register_module(nameof(conv_in), conv_in);
        register_module(nameof(mid), mid);
        register_module(nameof(up), up);
        register_module(nameof(norm_out), norm_out);
        register_module(nameof(conv_out), conv_out);
    }

    public override Tensor forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.call(z);
        h = mid.call(h, null);
        foreach (var layer in up)
            h = layer is ResBlock r ? r.call(h, null) : ((Upsample)layer).call(h);
        return conv_out.call(nn.functional.silu(norm_out.call(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The posterior q(z|x) = N(mean, diag(exp(logvar))) from the encoder's <c>[B, 2·Z, h, w]</c> output
/// (log-variance clamped to [−30, 20] as in LDM). Owns its tensors.
/// </summary>
public sealed class DiagonalGaussian : IDisposable
{
    public DiagonalGaussian(Tensor moments)
    {
        var parts = moments.chunk(2, 1);
        Mean = parts[0];
        LogVar = parts[1].clamp(-30.0, 20.0);
        parts[1].Dispose();
    }

    /// <summary><c>[B, Z, h, w]</c>.</summary>
    public Tensor Mean { get; }

    /// <summary><c>[B, Z, h, w]</c>.</summary>
    public Tensor LogVar { get; }

    /// <summary>mean + exp(logvar/2)·ε with ε from the current generator (reparameterised, differentiable).</summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var eps = randn(Mean.shape, dtype: Mean.dtype, device: Mean.device, generator: generator);
        return (Mean + exp(LogVar * 0.5) * eps).MoveToOuterDisposeScope();
    }

    /// <summary>KL(q ‖ N(0, I)) = ½ Σ (mean² + var − 1 − logvar), summed per sample, averaged over the batch: scalar.</summary>
    public Tensor Kl()
    {
        using var scope = NewDisposeScope();
        var perElement = Mean.pow(2) + exp(LogVar) - 1.0 - LogVar;
        return (perElement.sum([1, 2, 3]) * 0.5).mean().MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
    }
}

/// <summary>
/// The KL autoencoder of one normalized frequency slice: <c>encoder</c> <c>[B, 4, H, W]</c> → posterior over
/// <c>[B, Z, H/f, W/f]</c>; <c>decoder</c> back to <c>[B, 4, H, W]</c>. H and W must be multiples of f.
/// </summary>
public sealed class AutoencoderKL : nn.Module
{
    private readonly VaeEncoder encoder;
    private readonly VaeDecoder decoder;

    public AutoencoderKL(VaeConfig config) : base(nameof(AutoencoderKL))
    {
        config.Validate();
        Config = config;
        encoder = new VaeEncoder(config);
        decoder = new VaeDecoder(config);
        register_module(nameof(encoder), encoder);
        register_module(nameof(decoder), decoder);
    }

    public VaeConfig Config { get; }

    public DiagonalGaussian Encode(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Config.InChannels)
            throw new ArgumentException($"VAE input must be [B, {Config.InChannels}, H, W], got [{string.Join(", ", x.shape)}]", nameof(x));
        if (x.shape[2] % Config.DownFactor != 0 || x.shape[3] % Config.DownFactor != 0)
            throw new ArgumentException($"VAE input size {x.shape[2]}×{x.shape[3]} is not a multiple of {Config.DownFactor}", nameof(x));
        using var moments = encoder.call(x);
        // The posterior's statistics (exp, KL sums) are float32 whatever precision the encoder ran in.
        using var wide = Autocast.ToFloat32(moments);
        return new DiagonalGaussian(wide);
    }

    public Tensor Decode(Tensor z) => decoder.call(z);
}

/// <summary>The VAE objective of the paper (§7): weights 1, 0.2 and 1e-6 by default (config).</summary>
public static class VaeLoss
{
    /// <summary>
    /// <c>L = mean|x̂ − x| + λ_g · Σ_{s=0}^{S−1} ( mean|∂x r_s| + mean|∂y r_s| ) + λ_kl · KL</c>, where
    /// <c>r_s = avgpool_{2^s}(x̂ − x)</c> is the residual at scale s (multi-scale gradient consistency, MiDaS-style)
    /// and KL is <see cref="DiagonalGaussian.Kl"/>. Returns (total, l1, gradient, kl), all scalars.
    /// </summary>
    public static (Tensor Total, Tensor L1, Tensor Gradient, Tensor Kl) Compute(Tensor reconstruction, Tensor target, DiagonalGaussian posterior, VaeConfig config)
    {
        using var scope = NewDisposeScope();
        reconstruction = Autocast.ToFloat32(reconstruction);
        var l1 = (reconstruction - target).abs().mean();
        var gradient = GradientConsistency(reconstruction, target, config.GradientScales);
        var kl = posterior.Kl();
        var total = l1 + gradient * config.GradientWeight + kl * config.KlWeight;
        return (total.MoveToOuterDisposeScope(), l1.MoveToOuterDisposeScope(), gradient.MoveToOuterDisposeScope(), kl.MoveToOuterDisposeScope());
    }

    /// <summary>Σ over scales of the mean absolute finite differences of the residual; scales that no longer have 2 pixels are skipped.</summary>
    public static Tensor GradientConsistency(Tensor reconstruction, Tensor target, long scales)
    {
        using var scope = NewDisposeScope();
        var residual = reconstruction - target;
        var total = zeros([], dtype: residual.dtype, device: residual.device);
        for (var s = 0; s < scales && residual.shape[2] >= 2 && residual.shape[3] >= 2; s++)
        {
            if (s > 0) residual = nn.functional.avg_pool2d(residual, 2);
            var dx = residual[.., .., .., 1..] - residual[.., .., .., ..^1];
            var dy = residual[.., .., 1.., ..] - residual[.., .., ..^1, ..];
            total = total + dx.abs().mean() + dy.abs().mean();
        }
        return total.MoveToOuterDisposeScope();
    }
}
