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
    private readonly ImageFilm? cond_film;

    /// <param name="condChannels">When positive, the block takes the picture's features (<see cref="Forward"/>) and modulates its normalized features with them.</param>
    public ResBlock(long inChannels, long outChannels, long normGroups, long embedDim = 0, long condChannels = 0) : base(nameof(ResBlock))
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
        if (condChannels > 0)
        {
            cond_film = new ImageFilm(condChannels, embedDim, outChannels);
            register_module(nameof(cond_film), cond_film);
        }
    }

    public override Tensor forward(Tensor x, Tensor? emb) => Forward(x, emb, null);

    /// <summary>The block with the picture's features <paramref name="cond"/> <c>[B, Cc, h', w']</c> (needed when built with cond channels, ignored otherwise).</summary>
    public Tensor Forward(Tensor x, Tensor? emb, Tensor? cond)
    {
        using var scope = NewDisposeScope();
        var h = conv1.call(nn.functional.silu(norm1.call(x)));
        if (time_emb_proj is not null)
        {
            if (emb is null) throw new ArgumentNullException(nameof(emb), "this ResBlock was built with an embedding projection and needs the embedding");
            h = h + time_emb_proj.call(nn.functional.silu(emb)).unsqueeze(-1).unsqueeze(-1);
        }
        var normalized = norm2.call(h);
        if (cond_film is not null)
        {
            if (cond is null || emb is null) throw new ArgumentNullException(nameof(cond), "this ResBlock was built with image FiLM and needs the picture's features and the embedding");
            normalized = cond_film.call(normalized, cond, emb);
        }
        h = conv2.call(nn.functional.silu(normalized));
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

/// <summary>
/// FiLM from the picture (<c>unet.cond_film</c>): <c>z = SiLU(pool(c) + W·SiLU(emb))</c>, <c>(γ, β) = conv(z)</c>,
/// <c>h ← h·(1 + γ) + β</c> per pixel and channel, with c the picture's features pooled to h's size. The conv starts
/// at zero, so a new block is the plain ResBlock. Why: in the toy at the demo's shape (docs/experiments, K = 16),
/// concatenating the picture at the input alone stayed at chance on which bin an object moves in after 3,000 steps
/// (0.16) and FiLM reached 0.80; on the demo's own data it has not helped yet.
/// </summary>
public sealed class ImageFilm : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly AutocastLinear emb_proj;
    private readonly ChannelPaddedConv2d conv;

    public ImageFilm(long condChannels, long embedDim, long channels) : base(nameof(ImageFilm))
    {
        if (embedDim <= 0) throw new ArgumentException("image FiLM needs the time embedding (embedDim > 0)", nameof(embedDim));
        emb_proj = new AutocastLinear(embedDim, condChannels);
        conv = Layers.Conv2d(condChannels, 2 * channels, 3, padding: 1);
        using (no_grad())
        {
            nn.init.zeros_(conv.weight);
            nn.init.zeros_(conv.bias!);
        }
        register_module(nameof(emb_proj), emb_proj);
        register_module(nameof(conv), conv);
    }

    /// <summary><paramref name="h"/> <c>[B, C, h, w]</c>, <paramref name="cond"/> <c>[B, Cc, h', w']</c>, <paramref name="emb"/> <c>[B, E]</c> → <c>[B, C, h, w]</c>.</summary>
    public override Tensor forward(Tensor h, Tensor cond, Tensor emb)
    {
        using var scope = NewDisposeScope();
        if (cond.shape[2] != h.shape[2] || cond.shape[3] != h.shape[3])
            cond = nn.functional.adaptive_avg_pool2d(cond, [h.shape[2], h.shape[3]]);
        var z = nn.functional.silu(cond + emb_proj.call(nn.functional.silu(emb)).unsqueeze(-1).unsqueeze(-1));
        var gammaBeta = Autocast.ToFloat32(conv.call(z)).chunk(2, 1);
        return (h * (1 + gammaBeta[0]) + gammaBeta[1]).MoveToOuterDisposeScope();
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
