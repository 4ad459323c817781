using System.Globalization;
using GidCluster.Training.Models;
using GidCluster.Training.Tensors;
using GidCluster.Training.Trainer;

namespace GidCluster.Torch.Tests;

/// <summary>
/// bf16 autocast (training/Tensors/Autocast.cs) against python3-torch's <c>torch.autocast("cpu", dtype=torch.bfloat16)</c> on
/// the same weights and inputs: output, input gradients and every parameter gradient of a ResBlock and of spatial attention
/// (nn.MultiheadAttention), and the stage-1 U-Net's ε, loss and parameter gradients (training/Reference/stage1_unet.py).
/// Our autocast follows CUDA's op lists, the target's: group_norm, layer_norm and softmax run in float32. python3-torch
/// 1.13's CPU autocast has no such list (group_norm then refuses a bf16 input with float32 weights), so the reference gets
/// CUDA's behaviour by widening those three functions' inputs to float32, and its bf16 products accumulate in float32 as
/// GPU and oneDNN kernels do (<see cref="ReferencePrelude"/>); which ops run in bf16 is torch.autocast's own casting.
/// Errors are ‖a − b‖ / ‖b‖ over a tensor. bf16 keeps 8 significant bits (one rounding: ~2e-3 relative), and the two
/// libtorch builds round at different places (libtorch 2.10's bf16 addmm adds the bias after rounding the product,
/// its convolution backward is not correctly rounded: 3.8e-3 on the input gradient of one 3×3 convolution), so results
/// agree to bf16 precision rather than bitwise, and gradients that pass back through GroupNorm amplify those
/// differences (measured up to 4.5e-2 in the U-Net's). Each tensor must also move measurably between our float32 and our
/// bf16 run, so an autocast that silently did nothing fails.
/// </summary>
public sealed class AutocastTests
{
    /// <summary>Forward outputs (y, ε): ours in bf16 against the reference (measured: at most 3.4e-3, ResBlock's bitwise equal).</summary>
    private const double OutputTolerance = 5e-3;

    /// <summary>The scalar loss, a mean over many elements whose rounding averages out (measured: 2e-5).</summary>
    private const double LossTolerance = 2e-4;

    /// <summary>Input and parameter gradients (measured: at most 4.5e-2 in the U-Net, 3.2e-2 in the ResBlock, attention's bitwise equal or 2e-7).</summary>
    private const double GradientTolerance = 6e-2;

    /// <summary>
    /// Every output and gradient must differ between our float32 and bf16 runs by at least this (measured: 2.3e-4 on attention's
    /// input gradient, which the residual path dominates, 1e-3 and up elsewhere; float32 run to run: 0).
    /// </summary>
    private const double Bf16Shift = 1e-4;

    /// <summary>
    /// What the reference adds to torch.autocast, in two parts. (1) CUDA autocast's float32 list for the functions the
    /// reference uses, which CPU autocast in torch 1.13 lacks: their inputs widen to float32 (nn.MultiheadAttention reaches the
    /// patched <c>F.softmax</c> through F.multi_head_attention_forward). (2) Debian's torch 1.13 (generic BLAS, AVX2) accumulates
    /// its bf16 convolutions and matrix products in bf16 (measured 2.7e-2 relative error on one 64-channel 3×3 convolution,
    /// against 1.6e-3 with float32 accumulation), where oneDNN, cuDNN and cuBLAS accumulate in float32: a dispatch mode, below
    /// autocast and autograd, runs those kernels (and their backward) on the bf16 operands widened exactly to float32 and
    /// rounds the result to bf16. Which ops get bf16 operands is still torch.autocast's decision.
    /// </summary>
    internal const string ReferencePrelude = """
        from torch.utils._python_dispatch import TorchDispatchMode
        _group_norm, _layer_norm, _softmax = F.group_norm, F.layer_norm, F.softmax
        F.group_norm = lambda x, *a, **k: _group_norm(x.float(), *a, **k)
        F.layer_norm = lambda x, *a, **k: _layer_norm(x.float(), *a, **k)
        F.softmax = lambda x, *a, **k: _softmax(x.float(), *a, **k)
        aten = torch.ops.aten
        PRODUCTS = {aten.convolution.default, aten.convolution_backward.default, aten.mm.default, aten.bmm.default, aten.addmm.default, aten.baddbmm.default}
        class Float32Accumulation(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                bf16 = lambda a: isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16
                if func not in PRODUCTS or not any(bf16(a) for a in args):
                    return func(*args, **kwargs)
                out = func(*[a.float() if bf16(a) else a for a in args], **kwargs)
                down = lambda o: o.bfloat16() if isinstance(o, torch.Tensor) else o
                return type(out)(down(o) for o in out) if isinstance(out, (tuple, list)) else down(out)
        Float32Accumulation().__enter__()

        """;

    /// <summary>Python source running <paramref name="body"/> under <c>torch.autocast("cpu", bf16)</c>, after <see cref="ReferencePrelude"/>.</summary>
    internal static string TorchAutocast(string body) =>
        ReferencePrelude + "with torch.autocast('cpu', dtype=torch.bfloat16):\n" + string.Join("\n", body.Split('\n').Select(l => "    " + l)) + "\n";

    /// <summary>‖a − b‖₂ / ‖b‖₂ (in float64).</summary>
    private static double RelativeNorm(Tensor actual, Tensor expected)
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(expected.shape, actual.shape);
        var (a, b) = (actual.to(ScalarType.Float64), expected.to(ScalarType.Float64));
        return (a - b).norm().item<double>() / Math.Max(b.norm().item<double>(), 1e-30);
    }

    /// <summary>
    /// Asserts, for every named tensor, ours in bf16 within its tolerance of the reference and (all but the loss) moved by at
    /// least <see cref="Bf16Shift"/> from ours in float32; the message lists every tensor.
    /// </summary>
    private static void AssertAutocastMatches(string what, IEnumerable<(string Name, Tensor Bf16, Tensor Fp32, Tensor Reference)> tensors)
    {
        var lines = new List<string>();
        var failed = false;
        foreach (var (name, bf16, fp32, reference) in tensors)
        {
            var tolerance = name switch { "loss" => LossTolerance, "y" or "eps" => OutputTolerance, _ => GradientTolerance };
            var (error, shift) = (RelativeNorm(bf16, reference), RelativeNorm(bf16, fp32));
            var bad = !(error <= tolerance) || (name != "loss" && !(shift >= Bf16Shift));
            failed |= bad;
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{(bad ? "FAIL " : "")}{name}: bf16 vs reference {error:E2} (tolerance {tolerance:E0}), bf16 vs our fp32 {shift:E2}"));
        }
        Assert.True(lines.Count > 0, $"{what}: nothing compared");
        Assert.False(failed, $"{what}: bf16 against torch.autocast, and the shift from float32 (at least {Bf16Shift:E0}):\n{string.Join("\n", lines)}");
    }

    private static Tensor Leaf(long seed, params long[] shape) => torch.randn(shape, generator: new torch.Generator((ulong)seed)).requires_grad_();

    /// <summary>
    /// Runs <paramref name="forward"/> in float32 and under bf16 autocast (backward after the region closes, with the same
    /// upstream gradient), and compares both with the Python reference under torch.autocast.
    /// </summary>
    private static void CompareBlock(string what, nn.Module block, Dictionary<string, Tensor> inputs, Func<Tensor> forward, string body, string after = "")
    {
        (Tensor Y, Dictionary<string, Tensor> Grads) Run(string precision)
        {
            block.zero_grad();
            foreach (var x in inputs.Values) x.grad?.zero_();
            Tensor y;
            using (Autocast.Enter(precision)) y = forward();
            inputs.TryAdd("g", torch.randn(y.shape, generator: new torch.Generator(99)));
            y.backward([inputs["g"]]);
            var grads = inputs.Where(i => i.Key != "g").ToDictionary(i => "grad." + i.Key, i => i.Value.grad!.clone());
            foreach (var (name, p) in block.named_parameters()) grads["grad.p." + name] = p.grad!.clone();
            return (y.detach().to(ScalarType.Float32), grads);
        }
        var (y32, g32) = Run(Autocast.Float32Precision);
        var (y16, g16) = Run(Autocast.BFloat16Precision);
        var expected = ModelGoldenTests.Reference(block, inputs, body, after, autocast: true);
        AssertAutocastMatches(what, g16.Keys.Select(k => (k, g16[k], g32[k], expected[k])).Prepend(("y", y16, y32, expected["y"])));
    }

    [Fact]
    public void ResBlock_in_bf16_matches_torch_autocast()
    {
        using var scope = torch.NewDisposeScope();
        var block = new ResBlock(6, 8, normGroups: 2, embedDim: 5);
        ModelGoldenTests.Randomise(block, 1);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Leaf(2, 2, 6, 5, 4), ["emb"] = Leaf(3, 2, 5) };
        CompareBlock("ResBlock", block, inputs, () => block.call(inputs["x"], inputs["emb"]), ModelGoldenTests.ResBlockReference);
    }

    [Fact]
    public void SpatialAttention_in_bf16_matches_torch_autocast()
    {
        using var scope = torch.NewDisposeScope();
        var block = new SpatialAttention(8, heads: 2, normGroups: 4);
        ModelGoldenTests.Randomise(block, 5);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Leaf(6, 2, 8, 3, 4) };
        CompareBlock("SpatialAttention", block, inputs, () => block.call(inputs["x"]),
            ModelGoldenTests.SpatialAttentionReference, ModelGoldenTests.SpatialAttentionGradients);
    }

    [Fact]
    public void Stage1_UNet_loss_and_gradients_in_bf16_match_torch_autocast()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = Paths.NewTempDir("gid-autocast-unet");
        var config = ModelConfig.Load("tiny");
        var configPath = config.SaveTo(dir.Path);
        torch.manual_seed(7);
        using var unet = new UNet(config.Unet);
        ModelGoldenTests.Randomise(unet, 8, 0.1);
        var g = new torch.Generator(9);
        var noisy = torch.randn([3, 4, 2, 4], generator: g);
        var target = torch.randn([3, 4, 2, 4], generator: g);
        var image = torch.rand([3, 3, 16, 32], generator: g);
        var t = torch.tensor(new long[] { 3, 400, 999 });
        var k = torch.tensor(new long[] { 0, 7, 15 });
        var keep = torch.tensor(new[] { true, false, true });

        (Tensor Eps, Tensor Loss, Dictionary<string, Tensor> Grads) Step(string precision)
        {
            unet.zero_grad();
            Tensor eps, loss;
            using (Autocast.Enter(precision))
            {
                eps = unet.forward(noisy, t, k, image, keep);
                loss = nn.functional.mse_loss(Autocast.ToFloat32(eps), target);
            }
            loss.backward();
            return (eps.detach().to(ScalarType.Float32), loss.detach().reshape(1), unet.named_parameters().ToDictionary(p => "grad." + p.name, p => p.parameter.grad!.clone()));
        }
        var fp32 = Step(Autocast.Float32Precision);
        var bf16 = Step(Autocast.BFloat16Precision);

        var tensors = new Dictionary<string, Tensor>
        {
            ["noisy"] = noisy,
            ["target"] = target,
            ["image"] = image,
            ["t"] = t.to(ScalarType.Float32),
            ["k"] = k.to(ScalarType.Float32),
            ["keep"] = keep.to(ScalarType.Float32),
        };
        foreach (var (name, p) in unet.named_parameters()) tensors["p." + name] = p.detach();
        var inputs = Path.Combine(dir.Path, "inputs");
        PyTensors.Dump(tensors, inputs);
        var output = Path.Combine(dir.Path, "out");
        var script = """

            import sys, importlib.util, torch.nn.functional as F
            spec = importlib.util.spec_from_file_location('stage1_unet', sys.argv[4]); unet = importlib.util.module_from_spec(spec); spec.loader.exec_module(unet)
            cfg = json.load(open(sys.argv[1]))['unet']
            x = load(sys.argv[2])
            sd = {k[2:]: v.requires_grad_() for k, v in x.items() if k.startswith('p.')}

            """ + TorchAutocast("""
            eps = unet.eps(sd, cfg, x['noisy'], x['image'], x['t'], x['k'].long(), x['keep'].bool())
            loss = F.mse_loss(eps, x['target'])
            """) + """
            loss.backward()
            out = {'eps': eps.float(), 'loss': loss.detach().reshape(1)}
            for k, v in sd.items(): out['grad.' + k] = v.grad
            dump(out, sys.argv[3])
            """;
        Programs.RunPython(PyTensors.DumpFunction + script, [configPath, inputs, output, Path.Combine(AppContext.BaseDirectory, "Reference", "stage1_unet.py")], TimeSpan.FromMinutes(2));
        var expected = PyTensors.Load(output);
        AssertAutocastMatches("stage-1 U-Net", bf16.Grads.Keys.Select(n => (n, bf16.Grads[n], fp32.Grads[n], expected[n]))
            .Prepend(("loss", bf16.Loss, fp32.Loss, expected["loss"])).Prepend(("eps", bf16.Eps, fp32.Eps, expected["eps"])));
    }

    /// <summary>
    /// Training under bf16 autocast lowers the loss as float32 does: the tiny stage-1 U-Net from the same weights, 8 AdamW
    /// steps on one fixed batch with fixed draws (the same noise, timesteps and condition dropout every step), so the loss
    /// falls steadily. Stated: both fall at least 2×, and bf16's factor is within 25% of float32's on a log scale
    /// (measured: 2.90 each, 1.417 → 0.488).
    /// </summary>
    [Fact]
    public void Tiny_stage1_trains_under_bf16_like_fp32()
    {
        var config = ModelConfig.Load("tiny");
        const int steps = 8;
        List<double> Train(string precision)
        {
            using var scope = torch.NewDisposeScope();
            torch.manual_seed(3);
            using var unet = new UNet(config.Unet);
            using var schedule = new NoiseSchedule(config.Unet);
            var data = new torch.Generator(4);
            var latents = torch.randn([2, 4, 2, 4], generator: data);
            var image = torch.rand([2, 3, 16, 32], generator: data) * 2 - 1;
            var k = torch.tensor(new long[] { 3, 11 });
            using var optimizer = optim.AdamW(unet.parameters(), lr: 2e-3);
            var losses = new List<double>();
            for (var step = 0; step < steps; step++)
            {
                using var stepScope = torch.NewDisposeScope();
                optimizer.zero_grad();
                Tensor loss;
                using (Autocast.Enter(precision))
                using (var draws = new torch.Generator(5))
                    loss = unet.Loss(schedule, latents, k, image, draws);
                loss.backward();
                optimizer.step();
                losses.Add(loss.item<float>());
            }
            return losses;
        }
        var fp32 = Train(Autocast.Float32Precision);
        var bf16 = Train(Autocast.BFloat16Precision);
        var (f32, f16) = (fp32[0] / fp32[^1], bf16[0] / bf16[^1]);
        var message = string.Create(CultureInfo.InvariantCulture,
            $"loss fp32 {string.Join(" ", fp32.Select(l => l.ToString("F4", CultureInfo.InvariantCulture)))} (÷{f32:F2}); bf16 {string.Join(" ", bf16.Select(l => l.ToString("F4", CultureInfo.InvariantCulture)))} (÷{f16:F2})");
        Assert.True(f32 >= 2 && f16 >= 2, message);
        Assert.True(Math.Abs(Math.Log(f16) - Math.Log(f32)) <= 0.25 * Math.Log(f32), message);
        Assert.True(fp32.Zip(bf16).Any(p => p.First != p.Second), "bf16 trained exactly as fp32: autocast did nothing. " + message);
    }

    /// <summary>
    /// Every stage's loss runs under bf16 autocast on small random batches (32×16 frames, batch 2, 4 bins):
    /// the VAE's posterior, stage 2's frequency attention and LayerNorm, the renderer's splatting and L1 loss (perceptual term
    /// off: no VGG weights here). The loss is float32 and within 2% of the float32 loss on the same draws, yet not equal to it;
    /// every trainable parameter gets a finite float32 gradient.
    /// </summary>
    [Fact]
    public void Every_stage_runs_under_bf16_with_float32_loss_and_gradients()
    {
        using var scope = torch.NewDisposeScope();
        var config = ModelConfig.Load("tiny");
        torch.manual_seed(1);
        var data = new torch.Generator(2);
        var images = torch.rand([2, 3, 16, 32], generator: data);
        var targets = torch.rand([2, 3, 16, 32], generator: data);
        var volumes = torch.randn([2, 4, 4, 16, 32], generator: data);
        using var vae = new AutoencoderKL(config.Vae);
        using var frozen = new AutoencoderKL(config.Vae);
        foreach (var p in frozen.parameters()) p.requires_grad = false;
        using var latents = new LatentCache(frozen);
        using var schedule = new NoiseSchedule(config.Unet);
        using var unet = new UNet(config.Unet);
        using var stage2 = new FrequencyCoordinatedUNet(new UNet(config.Unet), config.Stage2);
        ModelGoldenTests.Randomise(stage2, 3, 0.05); // frequency attention starts as the identity (zero output projection)
        foreach (var p in stage2.Stage1.parameters()) p.requires_grad = false;
        using var renderer = new Renderer(config.Renderer);
        using var rendererLoss = new RendererLoss(null, config.Renderer.PerceptualWeight, _ => { });
        var stages = new (string Name, nn.Module Model, Func<torch.Generator, Tensor> Loss)[]
        {
            ("vae", vae, g => StageLosses.Vae(vae, volumes, g)),
            ("ldm1", unet, g => StageLosses.Stage1(unet, schedule, latents, images * 2 - 1, volumes, null, g)),
            ("ldm2", stage2, g => StageLosses.Stage2(stage2, schedule, latents, images * 2 - 1, volumes, null, g)),
            ("renderer", renderer, _ => StageLosses.Renderer(renderer, rendererLoss, images, volumes, targets, [3, 40], 149)),
        };
        foreach (var (name, model, loss) in stages)
        {
            Tensor Loss(string precision)
            {
                using var region = Autocast.Enter(precision);
                using var draws = new torch.Generator(7);
                return loss(draws);
            }
            double fp32;
            using (torch.no_grad()) fp32 = Loss(Autocast.Float32Precision).item<float>();
            model.zero_grad();
            var bf16 = Loss(Autocast.BFloat16Precision);
            Assert.Equal(ScalarType.Float32, bf16.dtype);
            var value = bf16.item<float>();
            var relative = Math.Abs(value - fp32) / Math.Abs(fp32);
            Assert.True(relative is > 0 and <= 2e-2, string.Create(CultureInfo.InvariantCulture, $"{name}: bf16 loss {value} vs fp32 {fp32} (relative {relative:E2})"));
            bf16.backward();
            var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
            Assert.NotEmpty(trainable);
            foreach (var (parameter, p) in trainable)
            {
                Assert.True(p.grad is { } grad && grad.dtype == ScalarType.Float32 && grad.isfinite().all().item<bool>(), $"{name}: {parameter} has no finite float32 gradient");
            }
            Assert.True(trainable.Any(p => p.parameter.grad!.abs().sum().item<float>() > 0), $"{name}: every gradient is zero");
        }
    }
}
