using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Models;

/// <summary>
/// ResNet basic block (ResNet-34's unit) with GroupNorm in place of BatchNorm (batch statistics would tie a rank's
/// result to its local batch): <c>relu(x' + norm2(conv2(relu(norm1(conv1(x))))))</c>, x' = <c>downsample</c>(x) when the
/// stride or width changes. <c>[B, Cin, H, W]</c> → <c>[B, Cout, H/s, W/s]</c>.
/// </summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly ChannelPaddedConv2d conv1;
    private readonly AutocastGroupNorm norm1;
    private readonly ChannelPaddedConv2d conv2;
    private readonly AutocastGroupNorm norm2;
    private readonly ChannelPaddedConv2d? downsample;

    public BasicBlock(long inChannels, long outChannels, long stride, long normGroups) : base(nameof(BasicBlock))
    {
        conv1 = Layers.Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        norm1 = ResBlock.Norm(normGroups, outChannels);
        conv2 = Layers.Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
        norm2 = ResBlock.Norm(normGroups, outChannels);
        register_module(nameof(conv1), conv1);
        register_module(nameof(norm1), norm1);
        register_module(nameof(conv2), conv2);
        register_module(nameof(norm2), norm2);
        if (stride != 1 || inChannels != outChannels)
        {
            downsample = Layers.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false);
            register_module(nameof(downsample), downsample);
        }
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = norm2.call(conv2.call(nn.functional.relu(norm1.call(conv1.call(x)))));
        var identity = downsample is null ? x : downsample.call(x);
        return nn.functional.relu(identity + h).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Multi-scale feature extractor of the start frame: a stem, then one stage of <c>blocks[s]</c> BasicBlocks per
/// scale s (stride 2 from the second on): <c>[B, 3, H, W]</c> → <c>[B, channels[s], H/2^s, W/2^s]</c> for each s.
/// </summary>
public sealed class FeaturePyramid : nn.Module
{
    private readonly ChannelPaddedConv2d stem;
    private readonly ModuleList<Sequential> stages = new();

    public FeaturePyramid(RendererConfig c) : base(nameof(FeaturePyramid))
    {
        stem = Layers.Conv2d(3, c.Channels[0], 3, padding: 1);
        var channels = c.Channels[0];
        for (var s = 0; s < c.Channels.Length; s++)
        {
            var blocks = new List<nn.Module<Tensor, Tensor>>();
            for (var i = 0; i < c.Blocks[s]; i++)
            {
                blocks.Add(new BasicBlock(channels, c.Channels[s], i == 0 && s > 0 ? 2 : 1, c.NormGroups));
                channels = c.Channels[s];
            }
            stages.Add(nn.Sequential(blocks));
        }
        register_module(nameof(stem), stem);
        register_module(nameof(stages), stages);
    }

    public List<Tensor> forward(Tensor image)
    {
        var features = new List<Tensor>();
        using var scope = NewDisposeScope();
        var h = stem.call(image);
        foreach (var stage in stages)
        {
            h = stage.call(h);
            features.Add(h);
        }
        foreach (var f in features) f.MoveToOuterDisposeScope();
        return features;
    }
}

/// <summary>
/// Synthesis decoder from the warped pyramid to RGB: from the coarsest scale, upsample, concatenate the next finer
/// warped features, fuse with a ResBlock; <c>conv_out</c> at full resolution: pyramid → <c>[B, 3, H, W]</c>.
/// </summary>
public sealed class SynthesisDecoder : nn.Module
{
    private readonly ModuleList<ResBlock> fuse = new();
    private readonly ModuleList<Upsample> upsample = new();
    private readonly ResBlock head;
    private readonly AutocastGroupNorm norm_out;
    private readonly ChannelPaddedConv2d conv_out;

    public SynthesisDecoder(RendererConfig c) : base(nameof(SynthesisDecoder))
    {
        var top = c.Channels.Length - 1;
        head = new ResBlock(c.Channels[top], c.Channels[top], c.NormGroups);
        var channels = c.Channels[top];
        for (var s = top - 1; s >= 0; s--)
        {
            upsample.Add(new Upsample(channels));
            fuse.Add(new ResBlock(channels + c.Channels[s], c.Channels[s], c.NormGroups));
            channels = c.Channels[s];
        }
        norm_out = ResBlock.Norm(c.NormGroups, channels);
        conv_out = Layers.Conv2d(channels, 3, 3, padding: 1);
        register_module(nameof(head), head);
        register_module(nameof(upsample), upsample);
        register_module(nameof(fuse), fuse);
        register_module(nameof(norm_out), norm_out);
        register_module(nameof(conv_out), conv_out);
    }

    public Tensor forward(IReadOnlyList<Tensor> warped)
    {
        using var scope = NewDisposeScope();
        var h = head.call(warped[^1], null);
        for (var i = 0; i < fuse.Count; i++)
        {
            var finer = warped[warped.Count - 2 - i];
            var up = upsample[i].call(h);
            // Odd sizes: the coarse map upsampled may exceed the finer one by a pixel.
            up = up[.., .., ..(int)finer.shape[2], ..(int)finer.shape[3]];
            h = fuse[i].call(cat([up, finer], 1), null);
        }
        return conv_out.call(nn.functional.silu(norm_out.call(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Image-based rendering (paper §5): features of I₀ at each scale are softmax-splatted with the flow F_t resized to
/// that scale (displacements scaled by the same factor) and weights W, then decoded to Î_t.
/// <c>image</c> <c>[B, 3, H, W]</c>, <c>flow</c> <c>[B, 2, H, W]</c>, <c>importance</c> <c>[B, 1, H, W]</c> → <c>[B, 3, H, W]</c>.
/// </summary>
public sealed class Renderer : nn.Module
{
    private readonly FeaturePyramid encoder;
    private readonly SynthesisDecoder decoder;

    public Renderer(RendererConfig config) : base(nameof(Renderer))
    {
        config.Validate();
        Config = config;
        encoder = new FeaturePyramid(config);
        decoder = new SynthesisDecoder(config);
        register_module(nameof(encoder), encoder);
        register_module(nameof(decoder), decoder);
    }

    public RendererConfig Config { get; }

    public Tensor forward(Tensor image, Tensor flow, Tensor importance)
    {
        using var scope = NewDisposeScope();
        return Synthesize(Encode(image), flow, importance).MoveToOuterDisposeScope();
    }

    /// <summary>The feature pyramid of I₀ (one tensor per scale). It depends on the picture alone, so a caller that renders
    /// many frames of one picture (the interactive page) computes it once and passes it to <see cref="Synthesize"/>.</summary>
    public List<Tensor> Encode(Tensor image) => encoder.forward(image);

    /// <summary>Splats each scale of <paramref name="features"/> (from <see cref="Encode"/>, batch 1 or B) by the flow and decodes.</summary>
    public Tensor Synthesize(IReadOnlyList<Tensor> features, Tensor flow, Tensor importance)
    {
        using var scope = NewDisposeScope();
        var b = flow.shape[0];
        if (importance.shape[0] != b) importance = importance.expand(b, -1, -1, -1);
        var warped = new List<Tensor>();
        foreach (var pyramidLevel in features)
        {
            var f = pyramidLevel.shape[0] == b ? pyramidLevel : pyramidLevel.expand(b, -1, -1, -1);
            var (h, w) = (f.shape[2], f.shape[3]);
            var (fl, imp) = (flow, importance);
            if (h != flow.shape[2] || w != flow.shape[3])
            {
                fl = nn.functional.interpolate(flow, size: [h, w], mode: InterpolationMode.Bilinear, align_corners: false);
                // Displacements are in pixels of the scale they live at.
                var scale = tensor(new[] { (double)w / flow.shape[3], (double)h / flow.shape[2] }, dtype: flow.dtype, device: flow.device).reshape(1, 2, 1, 1);
                fl = fl * scale;
                imp = nn.functional.interpolate(importance, size: [h, w], mode: InterpolationMode.Bilinear, align_corners: false);
            }
            warped.Add(SoftmaxSplatting.Splat(f, fl, imp));
        }
        return decoder.forward(warped).MoveToOuterDisposeScope();
    }
}
