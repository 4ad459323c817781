using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// LDM-style residual block: <c>x + conv2(silu(norm2(conv1(silu(norm1(x))) + time_emb_proj(silu(emb)))))</c>,
/// with a 1×1 <c>skip</c> convolution when the channel count changes. <c>[B, Cin, H, W]</c> (+ <c>[B, E]</c>) → <c>[B, Cout, H, W]</c>.
/// Blocks built without an embedding width (VAE, renderer) have no <c>time_emb_proj</c> and take <c>emb = null</c>.
/// </summary>
public sealed class ResBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly AutocastGroupNorm norm1;
    private readonly ChannelPaddedConv2d conv1;
    private readonly AutocastLinear? time_emb_proj;
    private readonly AutocastGroupNorm norm2;
    private readonly ChannelPaddedConv2d conv2;
    private readonly ChannelPaddedConv2d? skip;

    public ResBlock(long inChannels, long outChannels, long normGroups, long embedDim = 0) : base(nameof(ResBlock))
    {
        norm1 = Norm(normGroups, inChannels);
        conv1 = Layers.Conv2d(inChannels, outChannels, 3, padding: 1);
        register_module(nameof(norm1), norm1);
        register_module(nameof(conv1), conv1);
        if (embedDim > 0)
        {
            time_emb_proj = new AutocastLinear(embedDim, outChannels);
            register_module(nameof(time_emb_proj), time_emb_proj);
        }
        norm2 = Norm(normGroups, outChannels);
        conv2 = Layers.Conv2d(outChannels, outChannels, 3, padding: 1);
        register_module(nameof(norm2), norm2);
        register_module(nameof(conv2), conv2);
        if (inChannels != outChannels)
        {
            skip = Layers.Conv2d(inChannels, outChannels, 1);
            register_module(nameof(skip), skip);
        }
    }

    public override Tensor forward(Tensor x, Tensor? emb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.call(nn.functional.silu(norm1.call(x)));
        if (time_emb_proj is not null)
        {
            if (emb is null) throw new ArgumentNullException(nameof(emb), "this ResBlock was built with an embedding projection and needs the embedding");
            h = h + time_emb_proj.call(nn.functional.silu(emb)).unsqueeze(-1).unsqueeze(-1);
        }
        h = conv2.call(nn.functional.silu(norm2.call(h)));
        var identity = skip is null ? x : skip.call(x);
        return (identity + h).MoveToOuterDisposeScope();
    }

    /// <summary>GroupNorm over <paramref name="channels"/>, with a clear error when the groups do not divide them.</summary>
    public static AutocastGroupNorm Norm(long groups, long channels)
    {
        if (groups <= 0 || channels % groups != 0)
            throw new ArgumentException($"norm_groups {groups} does not divide {channels} channels");
        return Layers.GroupNorm(groups, channels);
    }
}

/// <summary>Strided 3×3 convolution halving the resolution: <c>[B, C, H, W]</c> → <c>[B, C, ⌈H/2⌉, ⌈W/2⌉]</c>.</summary>
public sealed class Downsample : nn.Module<Tensor, Tensor>
{
    private readonly ChannelPaddedConv2d conv;

    public Downsample(long channels) : base(nameof(Downsample))
    {
        conv = Layers.Conv2d(channels, channels, 3, stride: 2, padding: 1);
        register_module(nameof(conv), conv);
    }

    public override Tensor forward(Tensor x) => conv.call(x);
}

/// <summary>Nearest-neighbour ×2 then a 3×3 convolution: <c>[B, C, H, W]</c> → <c>[B, C, 2H, 2W]</c>.</summary>
public sealed class Upsample : nn.Module<Tensor, Tensor>
{
    private readonly ChannelPaddedConv2d conv;

    public Upsample(long channels) : base(nameof(Upsample))
    {
        conv = Layers.Conv2d(channels, channels, 3, padding: 1);
        register_module(nameof(conv), conv);
    }

    public override Tensor forward(Tensor x)
    {
        using var up = nn.functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return conv.call(up);
    }
}
