using System.Globalization;
using GidCluster.Training.Models;
using GidCluster.Training.Tensors;
using TorchSharp.Modules;

namespace GidCluster.Torch.Tests;

/// <summary>One float32 layer evaluation (forward, then backward with a random output gradient) to compare against float64.</summary>
/// <param name="Kind">"conv" (Conv2d, square kernel), "groupnorm" (Groups in <paramref name="Cout"/>) or "linear".</param>
public sealed record LayerCase(string Source, string Kind, long Batch, long Cin, long Cout, long Kernel, long Stride, long Padding, long Height, long Width)
{
    public override string ToString() => Kind switch
    {
        "conv" => FormattableString.Invariant($"{Source} conv {Cin}->{Cout} k{Kernel} s{Stride} p{Padding} [{Batch},{Cin},{Height},{Width}]"),
        "groupnorm" => FormattableString.Invariant($"{Source} groupnorm({Cout}, {Cin}) [{Batch},{Cin},{Height},{Width}]"),
        _ => FormattableString.Invariant($"{Source} linear {Cin}->{Cout} [{Batch},{Cin}]"),
    };
}

/// <summary>
/// Layers of the project's models in float32 against the same computation in float64. libtorch's float64
/// convolutions never go to oneDNN (it takes float32/bf16/half only), so the reference runs libtorch's own
/// kernels: a wrong oneDNN kernel cannot be wrong on both sides. Errors are max |a − b| / max |b| per tensor.
/// </summary>
public static class LayerProbe
{
    /// <summary>The tolerance for float32 against a reference.</summary>
    public const double Tolerance = 1e-5;

    /// <summary>
    /// Every output-channel count 1–24 and a few around 32–48, with 3×3 and 1×1 kernels at strides 1 and 2: shows that the wrong
    /// uncapped cases are exactly those whose output channels are not a multiple of 16 (3×3 kernels, batch ≥ 2).
    /// </summary>
    public static IEnumerable<LayerCase> WideGrid() =>
        ConvGrid("wide", [1, 3, 8, 16, 64], [.. Enumerable.Range(1, 24).Select(i => (long)i), 31, 33, 40, 48],
            [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 2, 0)]);

    /// <summary>Every pairing of these input/output channel counts, (kernel, stride, padding) kinds and batches 1, 2, 3, 8, on 8×8 inputs.</summary>
    private static IEnumerable<LayerCase> ConvGrid(string source, long[] channels, long[] outChannels, (long K, long S, long P)[] kinds) =>
        from cin in channels
        from cout in outChannels
        from k in kinds
        from n in new long[] { 1, 2, 3, 8 }
        select new LayerCase(source, "conv", n, cin, cout, k.K, k.S, k.P, 8, 8);

    /// <summary>
    /// The worst relative error over the output and every gradient (input, weight, bias); <paramref name="padded"/> computes
    /// the float32 convolution as the models do (<see cref="ChannelPaddedConv2d.Apply"/>), else with plain <c>conv2d</c>.
    /// </summary>
    public static double WorstError(LayerCase c, bool padded = false, long seed = 1)
    {
        using var scope = torch.NewDisposeScope();
        using var g = new torch.Generator((ulong)seed);
        var f64 = ScalarType.Float64;
        var (x, w, b) = c.Kind switch
        {
            "conv" => (torch.randn([c.Batch, c.Cin, c.Height, c.Width], f64, generator: g),
                torch.randn([c.Cout, c.Cin, c.Kernel, c.Kernel], f64, generator: g) / Math.Sqrt(c.Cin * c.Kernel * c.Kernel),
                torch.randn([c.Cout], f64, generator: g)),
            "groupnorm" => (torch.randn([c.Batch, c.Cin, c.Height, c.Width], f64, generator: g) * 3 + 1,
                torch.randn([c.Cin], f64, generator: g), torch.randn([c.Cin], f64, generator: g)),
            "linear" => (torch.randn([c.Batch, c.Cin], f64, generator: g),
                torch.randn([c.Cout, c.Cin], f64, generator: g) / Math.Sqrt(c.Cin), torch.randn([c.Cout], f64, generator: g)),
            _ => throw new ArgumentException($"unknown layer kind {c.Kind}"),
        };
        Tensor? gradOut = null;
        Tensor[] Run(ScalarType dtype, bool padded = false)
        {
            Tensor Leaf(Tensor t) => t.to(dtype).detach().requires_grad_();
            var (xs, ws, bs) = (Leaf(x), Leaf(w), Leaf(b));
            var y = c.Kind switch
            {
                "conv" => padded ? ChannelPaddedConv2d.Apply(xs, ws, bs, c.Stride, c.Padding) : F.conv2d(xs, ws, bs, [c.Stride, c.Stride], [c.Padding, c.Padding]),
                "groupnorm" => F.group_norm(xs, c.Cout, ws, bs),
                _ => F.linear(xs, ws, bs),
            };
            gradOut ??= torch.randn(y.shape, f64, generator: g);
            y.backward([gradOut.to(dtype)]);
            return [y.detach(), xs.grad!, ws.grad!, bs.grad!];
        }
        var reference = Run(f64);
        var single = Run(ScalarType.Float32, padded);
        return single.Zip(reference, PyTensors.RelativeError).Max();
    }

    /// <summary>
    /// Small shapes around the ones oneDNN got wrong (few output channels, batch above the thread count):
    /// every pairing of these channel counts, three kernel/stride kinds and four batch sizes, 8×8 inputs.
    /// </summary>
    public static IEnumerable<LayerCase> Grid() =>
        ConvGrid("grid", [1, 2, 3, 4, 7, 8, 16, 32, 64, 128], [1, 2, 3, 4, 8, 16, 32, 64, 128], [(3, 1, 1), (3, 2, 1), (1, 1, 0)]);

    /// <summary>
    /// Every distinct conv, GroupNorm and linear layer of the project's models built from the given configs
    /// (VAE, U-Net, renderer, VGG-16 perceptual features), on a small input of batch 3 (above 2 threads).
    /// </summary>
    public static IEnumerable<LayerCase> ModelLayers(params string[] configs)
    {
        var cases = new List<LayerCase>();
        foreach (var name in configs)
        {
            var config = ModelConfig.Load(name);
            using (var vae = new AutoencoderKL(config.Vae)) cases.AddRange(Layers(name + " vae", vae));
            using (var unet = new UNet(config.Unet)) cases.AddRange(Layers(name + " unet", unet));
            using (var renderer = new Renderer(config.Renderer)) cases.AddRange(Layers(name + " renderer", renderer));
        }
        using (var vgg = new Vgg16Features()) cases.AddRange(Layers("vgg16", vgg));
        return cases.DistinctBy(c => c with { Source = "" });
    }

    /// <summary>
    /// Input channel counts above 16 that are not multiples of it (a U-Net whose slice holds several bins has
    /// <c>G·Z + Cc</c> input channels, 68 for the demo's): plain oneDNN got 17, 20, 24, 36 and 68 wrong from batch 3.
    /// </summary>
    public static IEnumerable<LayerCase> WideInputs() =>
        from cin in new long[] { 17, 20, 24, 36, 68 }
        from cout in new long[] { 4, 16, 64 }
        from n in new long[] { 1, 3, 8 }
        select new LayerCase("wide-input", "conv", n, cin, cout, 3, 1, 1, 4, 8);

    /// <summary>The layers of <c>gid bench torch</c>'s reference U-Net (../shared/bench/unet_step_reference.py), at its sizes (40×64, halved twice).</summary>
    public static IEnumerable<LayerCase> BenchUNetLayers(long batch = 3)
    {
        var cases = new List<LayerCase>();
        void Conv(long cin, long cout, long k, long s, long h, long w) =>
            cases.Add(new LayerCase("bench-unet", "conv", batch, cin, cout, k, s, k / 2, h, w));
        Conv(7, 64, 3, 1, 40, 64);
        foreach (var (cin, cout, h, w) in new (long, long, long, long)[]
                 { (64, 64, 40, 64), (64, 128, 20, 32), (128, 128, 20, 32), (128, 128, 10, 16), (256, 128, 10, 16), (256, 128, 20, 32),
                   (192, 128, 20, 32), (192, 64, 40, 64), (128, 64, 40, 64) })
        {
            Conv(cin, cout, 3, 1, h, w);
            Conv(cout, cout, 3, 1, h, w);
            if (cin != cout) Conv(cin, cout, 1, 1, h, w);
            cases.Add(new LayerCase("bench-unet", "groupnorm", batch, cin, 32, 0, 0, 0, h, w));
        }
        Conv(64, 64, 3, 2, 40, 64);
        Conv(128, 128, 3, 2, 20, 32);
        Conv(128, 384, 1, 1, 10, 16);
        Conv(64, 4, 3, 1, 40, 64);
        cases.Add(new LayerCase("bench-unet", "linear", batch, 64, 256, 0, 0, 0, 0, 0));
        cases.Add(new LayerCase("bench-unet", "linear", batch, 256, 256, 0, 0, 0, 0, 0));
        cases.Add(new LayerCase("bench-unet", "linear", batch, 256, 128, 0, 0, 0, 0, 0));
        return cases.DistinctBy(c => c with { Source = "" });
    }

    private static IEnumerable<LayerCase> Layers(string source, nn.Module model)
    {
        foreach (var (_, m) in model.named_modules())
        {
            switch (m)
            {
                case ChannelPaddedConv2d conv:
                    // Stride-2 layers get an input that halves evenly; 1×1 layers need no halo.
                    yield return new LayerCase(source, "conv", 3, conv.InChannels, conv.OutChannels, conv.KernelSize, conv.Stride, conv.Padding, 8, 8);
                    break;
                case Conv2d:
                    throw new InvalidOperationException($"{source} builds nn.Conv2d directly: models use Layers.Conv2d (oneDNN's AVX-512 workaround)");
                case AutocastGroupNorm norm:
                    yield return new LayerCase(source, "groupnorm", 3, norm.Channels, norm.Groups, 0, 0, 0, 4, 4);
                    break;
                case AutocastLinear linear:
                    yield return new LayerCase(source, "linear", 3, linear.InFeatures, linear.OutFeatures, 0, 0, 0, 0, 0);
                    break;
                case GroupNorm or Linear or LayerNorm:
                    throw new InvalidOperationException($"{source} builds {m.GetType().Name} directly: models use the Autocast* layers (bf16 training)");
            }
        }
    }

    /// <summary>Runs <paramref name="cases"/>; prints each failure and one summary line <c>PROBE cases N failed M worst E</c>.</summary>
    public static int Report(IEnumerable<LayerCase> cases, TextWriter output, bool padded = false)
    {
        int n = 0, failed = 0;
        double worst = 0;
        foreach (var c in cases)
        {
            var e = WorstError(c, padded);
            n++;
            worst = Math.Max(worst, e);
            if (!(e <= Tolerance))
            {
                failed++;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"WRONG {c}: {e:E2}"));
            }
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PROBE cases {n} failed {failed} worst {worst:E2}"));
        return failed;
    }
}
