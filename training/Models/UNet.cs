using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// The start image at latent resolution: a strided conv stack (<c>log2 f</c> halvings) from RGB to the condition
/// channels: <c>[B, 3, H, W]</c> → <c>[B, Cc, H/f, W/f]</c>.
/// </summary>
public sealed class ImageConditionEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ChannelPaddedConv2d conv_in;
    private readonly ModuleList<ChannelPaddedConv2d> down = new();
    private readonly ChannelPaddedConv2d conv_out;

    public ImageConditionEncoder(long channels, long outChannels, long downFactor) : base(nameof(ImageConditionEncoder))
    {
        conv_in = Layers.Conv2d(3, channels, 3, padding: 1);
        for (var f = downFactor; f > 1; f /= 2)
            down.Add(Layers.Conv2d(channels, channels, 3, stride: 2, padding: 1));
        conv_out = Layers.Conv2d(channels, outChannels, 3, padding: 1);
        register_module(nameof(conv_in), conv_in);
        register_module(nameof(down), down);
        register_module(nameof(conv_out), conv_out);
    }

    public override Tensor forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(conv_in.call(image));
        foreach (var conv in down)
            h = nn.functional.silu(conv.call(h));
        return conv_out.call(h).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Stage 1 (paper §4.2): an LDM-style 2D U-Net predicting the noise ε in one frequency slice's latent (a slice is
/// <c>bins_per_slice</c> = G adjacent bins, <c>G·Z</c> channels; G = 1 in the paper).
/// Input: noisy latent <c>[B, G·Z, h, w]</c> concatenated with the start image's features <c>[B, Cc, h, w]</c>
/// (<c>cond_encoder</c>; a learned <c>null_cond</c> in their place where the condition is dropped, for
/// classifier-free guidance); conditioning: <c>time_embed(t) + freq_embed(k)</c>, k the slice index. Output <c>[B, G·Z, h, w]</c>.
/// With <c>cond_film</c> the same features also scale and shift every down and up ResBlock (<see cref="ImageFilm"/>).
/// Layout: <c>conv_in</c>; <c>down</c> levels of ResBlocks (+ attention at <c>attention_levels</c>) and Downsamples;
/// <c>mid</c> ResBlock-attention-ResBlock; <c>up</c> levels of ResBlocks over concatenated skips; <c>norm_out</c>-SiLU-<c>conv_out</c>.
/// </summary>
public sealed class UNet : nn.Module
{
    private readonly ImageConditionEncoder cond_encoder;
    private readonly Parameter null_cond;
    private readonly TimestepEmbedding time_embed;
    private readonly FrequencyEmbedding freq_embed;
    private readonly ChannelPaddedConv2d conv_in;
    private readonly ModuleList<nn.Module> down = new();
    private readonly MidBlock mid;
    private readonly ModuleList<nn.Module> up = new();
    private readonly AutocastGroupNorm norm_out;
    private readonly ChannelPaddedConv2d conv_out;
    private readonly List<long> _mixChannels = [];

    public UNet(UNetConfig c) : base(nameof(UNet))
    {
        c.Validate();
        Config = c;
        var embedDim = 4 * c.Channels;
        cond_encoder = new ImageConditionEncoder(c.CondEncoderChannels, c.CondChannels, c.DownFactor);
        null_cond = new Parameter(zeros(c.CondChannels));
        time_embed = new TimestepEmbedding(c.Channels, embedDim);
        freq_embed = new FrequencyEmbedding(c.Slices, embedDim);
        conv_in = Layers.Conv2d(SliceChannels + c.CondChannels, c.Channels, 3, padding: 1);

        var channels = c.Channels;
        var skips = new List<long> { channels };
        for (var level = 0; level < c.ChannelMult.Length; level++)
        {
            var outChannels = c.Channels * c.ChannelMult[level];
            for (var i = 0; i < c.NumResBlocks; i++)
            {
                down.Add(Layer(channels, outChannels, level, embedDim));
                channels = outChannels;
                skips.Add(channels);
            }
            if (level < c.ChannelMult.Length - 1)
            {
                down.Add(new Downsample(channels));
                skips.Add(channels);
            }
        }
        mid = new MidBlock(channels, c.AttentionHeads, c.NormGroups, embedDim);
        _mixChannels.Add(channels);
        for (var level = c.ChannelMult.Length - 1; level >= 0; level--)
        {
            var outChannels = c.Channels * c.ChannelMult[level];
            for (var i = 0; i <= c.NumResBlocks; i++)
            {
                var skip = skips[^1];
                skips.RemoveAt(skips.Count - 1);
                up.Add(Layer(channels + skip, outChannels, level, embedDim));
                channels = outChannels;
            }
            if (level > 0) up.Add(new Upsample(channels));
        }
        norm_out = ResBlock.Norm(c.NormGroups, channels);
        conv_out = Layers.Conv2d(channels, SliceChannels, 3, padding: 1);

        register_module(nameof(cond_encoder), cond_encoder);
        register_parameter(nameof(null_cond), null_cond);
        register_module(nameof(time_embed), time_embed);
        register_module(nameof(freq_embed), freq_embed);
        register_module(nameof(conv_in), conv_in);
        register_module(nameof(down), down);
        register_module(nameof(mid), mid);
        register_module(nameof(up), up);
        register_module(nameof(norm_out), norm_out);
        register_module(nameof(conv_out), conv_out);
    }

    public UNetConfig Config { get; }

    /// <summary>Channels of one slice's latent: <c>bins_per_slice · Z</c>.</summary>
    public long SliceChannels => Config.BinsPerSlice * Config.LatentChannels;

    /// <summary>
    /// The channel count at each point where the forward pass calls its <c>mix</c> callback: after every
    /// spatial layer (ResBlock, with its attention) of the down path, the middle, and the up path, in call order.
    /// </summary>
    public IReadOnlyList<long> MixChannels => _mixChannels;

    /// <summary>One ResBlock, followed by spatial attention on attention levels: a <see cref="ResAttention"/>.</summary>
    private ResAttention Layer(long inChannels, long outChannels, int level, long embedDim)
    {
        var attention = Config.AttentionLevels.Contains(level) ? new SpatialAttention(outChannels, Config.AttentionHeads, Config.NormGroups) : null;
        _mixChannels.Add(outChannels);
        return new ResAttention(new ResBlock(inChannels, outChannels, Config.NormGroups, embedDim, Config.CondFilm ? Config.CondChannels : 0), attention);
    }

    /// <summary>The image condition at latent resolution, <c>[B, Cc, h, w]</c>; rows where <paramref name="keep"/> is false get <c>null_cond</c>.</summary>
    public Tensor EncodeCondition(Tensor image, Tensor? keep)
    {
        using var scope = NewDisposeScope();
        var features = cond_encoder.call(image);
        if (keep is not null)
        {
            var mask = keep.to(ScalarType.Bool).reshape(-1, 1, 1, 1);
            features = where(mask, features, null_cond.reshape(1, -1, 1, 1).expand_as(features));
        }
        return features.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// ε for every slice of whole volumes: <paramref name="noisy"/> <c>[B, K, Z, h, w]</c> (bins in order), one timestep
    /// per volume <c>[B]</c>, <paramref name="image"/> <c>[B, 3, H, W]</c>, <paramref name="keep"/> <c>[B]</c> or null.
    /// Slice j holds bins <c>j·G … j·G+G−1</c>, so the grouping is a reshape to <c>[B·K/G, G·Z, h, w]</c>; the slices of a
    /// volume stay consecutive, as <paramref name="mix"/> (stage 2's frequency attention) expects.
    /// </summary>
    public Tensor ForwardVolume(Tensor noisy, Tensor timesteps, Tensor image, Tensor? keep = null, Func<Tensor, int, Tensor>? mix = null)
    {
        using var scope = NewDisposeScope();
        if (noisy.dim() != 5 || noisy.shape[1] % Config.BinsPerSlice != 0 || noisy.shape[1] > Config.Frequencies)
            throw new ArgumentException($"volume latents must be [B, K, Z, h, w] with K ≤ {Config.Frequencies} a multiple of bins_per_slice {Config.BinsPerSlice}, got [{string.Join(", ", noisy.shape)}]", nameof(noisy));
        var (b, s) = (noisy.shape[0], noisy.shape[1] / Config.BinsPerSlice);
        var slices = noisy.reshape([b * s, SliceChannels, .. noisy.shape[3..]]);
        var index = arange(s, dtype: ScalarType.Int64, device: noisy.device).repeat(b);
        var y = forward(slices, timesteps.repeat_interleave(s), index, image.repeat_interleave(s, 0), keep?.repeat_interleave(s), mix);
        return y.reshape(noisy.shape).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// ε prediction. <paramref name="noisy"/> <c>[B, G·Z, h, w]</c>; <paramref name="timesteps"/> <c>[B]</c> int64;
    /// <paramref name="frequency"/> <c>[B]</c> int64 slice index k; <paramref name="image"/> <c>[B, 3, h·f, w·f]</c>;
    /// <paramref name="keep"/> <c>[B]</c> bool (false = condition dropped) or null (all kept);
    /// <paramref name="mix"/> (stage 2) is called with each spatial layer's output and its index in <see cref="MixChannels"/>.
    /// </summary>
    public Tensor forward(Tensor noisy, Tensor timesteps, Tensor frequency, Tensor image, Tensor? keep = null, Func<Tensor, int, Tensor>? mix = null)
    {
        using var scope = NewDisposeScope();
        if (noisy.dim() != 4 || noisy.shape[1] != SliceChannels)
            throw new ArgumentException($"noisy latent must be [B, {SliceChannels}, h, w], got [{string.Join(", ", noisy.shape)}]", nameof(noisy));
        var multiple = 1L << (Config.ChannelMult.Length - 1);
        if (noisy.shape[2] % multiple != 0 || noisy.shape[3] % multiple != 0)
            throw new ArgumentException($"latent size {noisy.shape[2]}×{noisy.shape[3]} is not a multiple of {multiple} (the U-Net halves it {Config.ChannelMult.Length - 1} times)", nameof(noisy));
        var cond = EncodeCondition(image, keep);
        if (cond.shape[2] != noisy.shape[2] || cond.shape[3] != noisy.shape[3])
            throw new ArgumentException($"image {image.shape[2]}×{image.shape[3]} does not encode to the latent size {noisy.shape[2]}×{noisy.shape[3]} (down factor {Config.DownFactor})", nameof(image));
        var emb = time_embed.call(timesteps) + freq_embed.call(frequency);
        var index = 0;
        Tensor Mix(Tensor h) => mix is null ? h : mix(h, index++);

        var h = conv_in.call(cat([noisy, cond], 1));
        var skips = new List<Tensor> { h };
        foreach (var layer in down)
        {
            h = layer is ResAttention ra ? Mix(ra.Forward(h, emb, cond)) : ((Downsample)layer).call(h);
            skips.Add(h);
        }
        h = Mix(mid.call(h, emb));
        foreach (var layer in up)
        {
            if (layer is ResAttention ra)
            {
                h = Mix(ra.Forward(cat([h, skips[^1]], 1), emb, cond));
                skips.RemoveAt(skips.Count - 1);
            }
            else
            {
                h = ((Upsample)layer).call(h);
            }
        }
        return conv_out.call(nn.functional.silu(norm_out.call(h))).MoveToOuterDisposeScope();
    }

    /// <summary>Draws the condition-keep mask for a training batch: each row dropped with probability <c>cond_dropout</c>.</summary>
    public Tensor DrawKeepMask(long batch, Generator? generator = null) =>
        rand(batch, generator: generator).ge(Config.CondDropout);

    /// <summary>ε-prediction MSE for one training batch of clean slice latents <paramref name="latents"/> <c>[B, G·Z, h, w]</c>.</summary>
    public Tensor Loss(NoiseSchedule schedule, Tensor latents, Tensor frequency, Tensor image, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var b = latents.shape[0];
        var t = randint(0, schedule.Timesteps, [b], dtype: ScalarType.Int64, generator: generator).to(latents.device);
        var noise = randn(latents.shape, generator: generator).to(latents.device);
        var keep = DrawKeepMask(b, generator).to(latents.device);
        var prediction = forward(schedule.AddNoise(latents, noise, t), t, frequency, image, keep);
        return nn.functional.mse_loss(Autocast.ToFloat32(prediction), noise).MoveToOuterDisposeScope();
    }
}

/// <summary>A ResBlock then (optionally) spatial attention, as one U-Net layer: <c>[B, Cin, h, w]</c> + <c>[B, E]</c> → <c>[B, Cout, h, w]</c>.</summary>
public sealed class ResAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly ResBlock res;
    private readonly SpatialAttention? attn;

    public ResAttention(ResBlock res, SpatialAttention? attn) : base(nameof(ResAttention))
    {
        this.res = res;
        this.attn = attn;
        register_module(nameof(res), res);
        if (attn is not null) register_module(nameof(attn), attn);
    }

    public override Tensor forward(Tensor x, Tensor emb) => Forward(x, emb, null);

    /// <summary>The layer with the picture's features, which its ResBlock uses when it has FiLM.</summary>
    public Tensor Forward(Tensor x, Tensor emb, Tensor? cond)
    {
        var h = res.Forward(x, emb, cond);
        if (attn is null) return h;
        using (h) return attn.call(h);
    }
}

/// <summary>
/// Stage 2 (paper §4.2, Fig. 3): the stage-1 <c>unet</c>, frozen, with a <see cref="FrequencyAttention"/> layer
/// (<c>freq_attn.i</c>) after each of its spatial layers so the K/G slices of a sample are denoised together.
/// Input <c>[B, K, Z, h, w]</c> → ε <c>[B, K, Z, h, w]</c>. Only <c>freq_attn</c> is trainable.
/// </summary>
public sealed class FrequencyCoordinatedUNet : nn.Module
{
    private readonly UNet unet;
    private readonly ModuleList<FrequencyAttention> freq_attn = new();

    public FrequencyCoordinatedUNet(UNet stage1, Stage2Config config) : base(nameof(FrequencyCoordinatedUNet))
    {
        config.Validate();
        unet = stage1;
        foreach (var channels in stage1.MixChannels)
        {
            if (channels % config.AttentionHeads != 0)
                throw new ConfigException("stage2.attention_heads", $"{config.AttentionHeads} heads do not divide {channels} channels");
            freq_attn.Add(new FrequencyAttention(channels, config.AttentionHeads, stage1.Config.Slices));
        }
        register_module(nameof(unet), unet);
        register_module(nameof(freq_attn), freq_attn);
        foreach (var p in unet.parameters())
            p.requires_grad = false;
    }

    public UNet Stage1 => unet;

    /// <summary>
    /// <paramref name="noisy"/> <c>[B, K, Z, h, w]</c>; <paramref name="timesteps"/> <c>[B]</c> (one step per sample);
    /// <paramref name="image"/> <c>[B, 3, H, W]</c>; <paramref name="keep"/> <c>[B]</c> bool or null.
    /// </summary>
    public Tensor forward(Tensor noisy, Tensor timesteps, Tensor image, Tensor? keep = null)
    {
        if (noisy.dim() != 5) throw new ArgumentException($"stage-2 input must be [B, K, Z, h, w], got [{string.Join(", ", noisy.shape)}]", nameof(noisy));
        var slices = noisy.shape[1] / unet.Config.BinsPerSlice;
        return unet.ForwardVolume(noisy, timesteps, image, keep, (h, i) => freq_attn[i].call(h, slices));
    }
}
