using TorchSharp;
using TorchSharp.Modules;

namespace GidCluster.Training.Tensors;

/// <summary>
/// Module factories for the cases where TorchSharp 0.107's own factory is not PyTorch's module.
/// Model code builds its convolutions and group norms through here, and its linear and layer-norm layers as
/// <see cref="AutocastLinear"/> and <see cref="AutocastLayerNorm"/>, never through <c>torch.nn</c> directly.
/// </summary>
public static class Layers
{
    /// <summary>
    /// GroupNorm with PyTorch's initialisation (weight 1, bias 0), for the models and for code outside them (benchmarks,
    /// test networks): <see cref="AutocastGroupNorm"/>. TorchSharp 0.107.0's own <c>nn.GroupNorm</c> allocates the affine
    /// parameters with <c>torch.empty</c> and never resets them (NaN loss from the first step).
    /// </summary>
    public static AutocastGroupNorm GroupNorm(long numGroups, long numChannels, double eps = 1e-5) => new(numGroups, numChannels, eps);

    /// <summary>
    /// A 2-D convolution as <c>nn.Conv2d</c> (same initialisation, parameters <c>weight</c> and <c>bias</c> of the same shapes),
    /// computed so that oneDNN's AVX-512 kernels get it right: see <see cref="ChannelPaddedConv2d"/>.
    /// </summary>
    public static ChannelPaddedConv2d Conv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool bias = true) =>
        new(inChannels, outChannels, kernelSize, stride, padding, bias);
}

/// <summary>
/// <c>nn.Conv2d</c> whose output channels are zero-padded to a multiple of <see cref="ChannelMultiple"/> for the computation
/// and sliced back; inside an <see cref="Autocast"/> region input, weight and bias are cast to its dtype. oneDNN 3.7.1 (libtorch 2.10) returns wrong input gradients from its AVX-512 3×3 backward-data kernel
/// when the output channels are not a multiple of the 16-float SIMD width (batch ≥ 2, AMD EPYC; measured with the
/// <c>layer-probe</c> worker, ConvolutionGradientTests). The zero rows add nothing to the input gradient; the real weight
/// and bias get their gradients through <c>cat</c> and <c>narrow</c>. Some input channel counts are padded too (<see cref="InputPadding"/>).
/// </summary>
public sealed class ChannelPaddedConv2d : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    /// <summary>Output channels are padded up to a multiple of this (AVX-512 holds 16 floats).</summary>
    public const long ChannelMultiple = 16;

#pragma warning disable IDE1006 // PyTorch's parameter names, which state dicts carry
    public readonly Parameter weight;
    public readonly Parameter? bias;
#pragma warning restore IDE1006

    public long InChannels { get; }
    public long OutChannels { get; }
    public long KernelSize { get; }
    public long Stride { get; }
    public long Padding { get; }

    internal ChannelPaddedConv2d(long inChannels, long outChannels, long kernelSize, long stride, long padding, bool bias)
        : base(nameof(Conv2d))
    {
        (InChannels, OutChannels, KernelSize, Stride, Padding) = (inChannels, outChannels, kernelSize, stride, padding);
        // TorchSharp's own module gives PyTorch's initialisation; its tensors are copied so that module can go.
        using (var conv = torch.nn.Conv2d(inChannels, outChannels, kernelSize, stride: stride, padding: padding, bias: bias))
        using (torch.no_grad())
        {
            weight = new Parameter(conv.weight!.detach().clone());
            this.bias = bias ? new Parameter(conv.bias!.detach().clone()) : null;
        }
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor input) => Apply(input, weight, bias, Stride, Padding);

    /// <summary>
    /// Zero input channels to add. oneDNN 3.7.1's AVX-512 kernels get a convolution wrong (output or gradients, from
    /// batch 3) when it has more than 16 input channels that are not a multiple of 16 (20, 24, 36, 68 measured in
    /// float32; at or below 16 they are right), and on a CPU with AVX512-BF16 its bf16 kernels get input gradients wrong
    /// for any count that is not a multiple of 16 (6 and 8 measured, AutocastTests). Those are padded up to the next
    /// multiple (ConvolutionGradientTests, AutocastTests).
    /// </summary>
    public static long InputPadding(long inChannels, torch.ScalarType dtype = torch.ScalarType.Float32) =>
        dtype != torch.ScalarType.BFloat16 && inChannels <= ChannelMultiple ? 0 : ToMultiple(inChannels);

    /// <summary>Channels to add to <paramref name="channels"/> to reach a multiple of <see cref="ChannelMultiple"/>.</summary>
    private static long ToMultiple(long channels) => (ChannelMultiple - channels % ChannelMultiple) % ChannelMultiple;

    /// <summary>
    /// <c>F.conv2d</c> with the output channels (and input channels, per <see cref="InputPadding"/>) padded as this module does (weight [out, in, k, k], bias [out] or null),
    /// its operands in the <see cref="Autocast"/> region's dtype when one is open.
    /// </summary>
    public static torch.Tensor Apply(torch.Tensor input, torch.Tensor weight, torch.Tensor? bias, long stride, long padding)
    {
        using var scope = torch.NewDisposeScope();
        (input, weight, bias) = (Autocast.ToReduced(input), Autocast.ToReduced(weight), bias is null ? null : Autocast.ToReduced(bias));
        var inExtra = InputPadding(weight.shape[1], weight.dtype);
        if (inExtra > 0)
        {
            // Zero input channels with zero weight columns add nothing to the output; the real columns keep their gradients.
            input = torch.cat([input, torch.zeros([input.shape[0], inExtra, input.shape[2], input.shape[3]], input.dtype, input.device)], 1);
            weight = torch.cat([weight, torch.zeros([weight.shape[0], inExtra, weight.shape[2], weight.shape[3]], weight.dtype, weight.device)], 1);
        }
        var outChannels = weight.shape[0];
        var extra = ToMultiple(outChannels);
        if (extra == 0)
            return torch.nn.functional.conv2d(input, weight, bias, [stride, stride], [padding, padding]).MoveToOuterDisposeScope();
        var zeros = torch.zeros([extra, weight.shape[1], weight.shape[2], weight.shape[3]], weight.dtype, weight.device);
        var b = bias is null ? null : torch.cat([bias, torch.zeros([extra], bias.dtype, bias.device)], 0);
        var y = torch.nn.functional.conv2d(input, torch.cat([weight, zeros], 0), b, [stride, stride], [padding, padding]);
        return y.narrow(1, 0, outChannels).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// <c>nn.Linear</c> (same initialisation, parameters <c>weight</c> [out, in] and <c>bias</c> [out]) whose input, weight and
/// bias are cast to the <see cref="Autocast"/> region's dtype when one is open: <c>[..., in]</c> → <c>[..., out]</c>.
/// </summary>
public sealed class AutocastLinear : torch.nn.Module<torch.Tensor, torch.Tensor>
{
#pragma warning disable IDE1006 // PyTorch's parameter names, which state dicts carry
    public readonly Parameter weight;
    public readonly Parameter? bias;
#pragma warning restore IDE1006

    public long InFeatures { get; }
    public long OutFeatures { get; }

    public AutocastLinear(long inFeatures, long outFeatures, bool bias = true) : base("Linear")
    {
        (InFeatures, OutFeatures) = (inFeatures, outFeatures);
        // TorchSharp's own module gives PyTorch's initialisation; its tensors are copied so that module can go.
        using (var linear = torch.nn.Linear(inFeatures, outFeatures, hasBias: bias))
        using (torch.no_grad())
        {
            weight = new Parameter(linear.weight.detach().clone());
            this.bias = bias ? new Parameter(linear.bias!.detach().clone()) : null;
        }
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var b = bias is null ? null : Autocast.ToReduced(bias);
        return torch.nn.functional.linear(Autocast.ToReduced(input), Autocast.ToReduced(weight), b).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// <c>nn.GroupNorm</c> (weight 1, bias 0, parameters <c>weight</c> and <c>bias</c> [C]) that normalises in float32 inside an
/// <see cref="Autocast"/> region, whatever dtype its input arrives in: <c>[B, C, ...]</c> → same shape.
/// </summary>
public sealed class AutocastGroupNorm : torch.nn.Module<torch.Tensor, torch.Tensor>
{
#pragma warning disable IDE1006 // PyTorch's parameter names, which state dicts carry
    public readonly Parameter weight;
    public readonly Parameter bias;
#pragma warning restore IDE1006

    public long Groups { get; }
    public long Channels { get; }
    public double Eps { get; }

    public AutocastGroupNorm(long groups, long channels, double eps = 1e-5) : base("GroupNorm")
    {
        (Groups, Channels, Eps) = (groups, channels, eps);
        weight = new Parameter(torch.ones(channels));
        bias = new Parameter(torch.zeros(channels));
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor input)
    {
        using var wide = Autocast.ToFloat32(input);
        return torch.nn.functional.group_norm(wide, Groups, weight, bias, Eps);
    }
}

/// <summary>
/// <c>nn.LayerNorm</c> over the last dimension (weight 1, bias 0, parameters <c>weight</c> and <c>bias</c> [C]) that normalises
/// in float32 inside an <see cref="Autocast"/> region: <c>[..., C]</c> → same shape.
/// </summary>
public sealed class AutocastLayerNorm : torch.nn.Module<torch.Tensor, torch.Tensor>
{
#pragma warning disable IDE1006 // PyTorch's parameter names, which state dicts carry
    public readonly Parameter weight;
    public readonly Parameter bias;
#pragma warning restore IDE1006

    public long Channels { get; }
    public double Eps { get; }

    public AutocastLayerNorm(long channels, double eps = 1e-5) : base("LayerNorm")
    {
        (Channels, Eps) = (channels, eps);
        weight = new Parameter(torch.ones(channels));
        bias = new Parameter(torch.zeros(channels));
        RegisterComponents();
    }

    public override torch.Tensor forward(torch.Tensor input)
    {
        using var wide = Autocast.ToFloat32(input);
        return torch.nn.functional.layer_norm(wide, [Channels], weight, bias, Eps);
    }
}
