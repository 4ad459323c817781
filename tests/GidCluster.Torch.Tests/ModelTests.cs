using GidCluster.Training.Models;
using GidCluster.Training.Trainer;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Shapes, gradients, stage-2 identity at initialisation, freezing, and a short overfit run for each tiny model.
/// Sizes are shrunk from the tiny config where it keeps the tests at a few seconds on 2 shared cores.
/// </summary>
public sealed class ModelTests
{
    private static ModelConfig Tiny(params string[] overrides) => ModelConfig.Load("tiny", overrides);

    /// <summary>Every parameter that takes part received a finite, non-zero gradient somewhere.</summary>
    private static void AssertGradients(nn.Module module, string what)
    {
        foreach (var (name, p) in module.named_parameters())
        {
            if (!p.requires_grad) continue;
            Assert.True(p.grad is not null, $"{what}: {name} got no gradient");
            Assert.True(p.grad!.isfinite().all().item<bool>(), $"{what}: {name} has a non-finite gradient");
        }
        var nonZero = module.parameters().Where(p => p.requires_grad).Count(p => p.grad!.abs().sum().item<float>() > 0);
        Assert.True(nonZero > 0, $"{what}: all gradients are zero");
    }

    /// <summary>Bit-for-bit equality (same shape, every element equal).</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void Blocks_have_documented_shapes()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn(2, 8, 6, 4);
        Assert.Equal([2L, 8, 3, 2], new Downsample(8).call(x).shape);
        Assert.Equal([2L, 8, 12, 8], new Upsample(8).call(x).shape);
        Assert.Equal([2L, 16, 6, 4], new ResBlock(8, 16, 4, 10).call(x, torch.randn(2, 10)).shape);
        Assert.Equal([2L, 8, 6, 4], new ResBlock(8, 8, 4).call(x, null).shape);
        Assert.Equal([2L, 8, 6, 4], new SpatialAttention(8, 2, 4).call(x).shape);
        Assert.Equal([2L, 8, 6, 4], new FrequencyAttention(8, 2, 4).call(x, 2).shape);
        Assert.Equal([3L, 12], new TimestepEmbedding(8, 12).call(torch.tensor(new long[] { 0, 5, 999 })).shape);
        Assert.Equal([3L, 12], new FrequencyEmbedding(16, 12).call(torch.tensor(new long[] { 0, 5, 15 })).shape);
        Assert.Equal([2L, 1, 6, 4], SoftmaxSplatting.Importance(torch.randn([2, 5, 2, 6, 4])).shape);
        var error = Assert.Throws<ArgumentException>(() => new FrequencyAttention(8, 2, 4).call(x, 3));
        Assert.Contains("K = 3", error.Message);
    }

    [Fact]
    public void Fresh_frequency_attention_is_the_identity()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn(6, 8, 3, 3);
        Assert.True(Same(new FrequencyAttention(8, 2, 4).call(x, 3), x));
    }

    [Fact]
    public void Vae_shapes_gradients_and_loss_terms()
    {
        using var scope = torch.NewDisposeScope();
        var config = Tiny().Vae;
        using var vae = new AutoencoderKL(config);
        var x = torch.randn(2, 4, 16, 24);
        using var posterior = vae.Encode(x);
        Assert.Equal([2L, 4, 2, 3], posterior.Mean.shape);
        var z = posterior.Sample();
        var reconstruction = vae.Decode(z);
        Assert.Equal(x.shape, reconstruction.shape);
        var (total, l1, gradient, kl) = VaeLoss.Compute(reconstruction, x, posterior, config);
        var expected = l1.item<float>() + 0.2 * gradient.item<float>() + 1e-6 * kl.item<float>();
        Assert.Equal(expected, total.item<float>(), 4);
        total.backward();
        AssertGradients(vae, "VAE");
        Assert.Throws<ArgumentException>(() => vae.Encode(torch.randn(1, 4, 12, 16)));
        // The gradient term is zero for a perfect reconstruction and positive for a ramp error.
        Assert.Equal(0f, VaeLoss.GradientConsistency(x, x, 4).item<float>());
        var ramp = torch.arange(24).to(ScalarType.Float32).expand(2, 4, 16, 24);
        Assert.True(VaeLoss.GradientConsistency(x + ramp, x, 4).item<float>() > 1);
    }

    [Fact]
    public void Stage1_unet_shapes_gradients_and_condition_dropout()
    {
        using var scope = torch.NewDisposeScope();
        using var unet = new UNet(Tiny().Unet);
        var noisy = torch.randn(3, 4, 4, 6);
        var image = torch.randn(3, 3, 32, 48);
        var t = torch.tensor(new long[] { 0, 500, 999 });
        var k = torch.tensor(new long[] { 0, 3, 15 });
        // One row with its condition dropped, so null_cond takes part too.
        var eps = unet.forward(noisy, t, k, image, torch.tensor(new[] { true, false, true }));
        Assert.Equal(noisy.shape, eps.shape);
        eps.sum().backward();
        AssertGradients(unet, "UNet");

        // A dropped condition is exactly the learned null condition; kept rows are unchanged.
        using (torch.no_grad())
        {
            var keep = torch.tensor(new[] { true, false, true });
            var cond = unet.EncodeCondition(image, keep);
            var full = unet.EncodeCondition(image, null);
            Assert.True(Same(cond[0], full[0]) && Same(cond[2], full[2]));
            Assert.True(cond[1].abs().sum().item<float>() == 0); // null_cond starts at zero
        }
        var rate = unet.DrawKeepMask(20000, new torch.Generator(1)).logical_not().to(ScalarType.Float32).mean().item<float>();
        Assert.InRange(rate, 0.09, 0.11);
        var wrong = Assert.Throws<ArgumentException>(() => unet.forward(noisy, t, k, torch.randn(3, 3, 16, 48)));
        Assert.Contains("latent size", wrong.Message);
        var odd = Assert.Throws<ArgumentException>(() => unet.forward(torch.randn(3, 4, 4, 5), t, k, torch.randn(3, 3, 32, 40)));
        Assert.Contains("not a multiple of 2", odd.Message);
    }

    [Fact]
    public void Noise_schedule_is_ldms()
    {
        using var schedule = new NoiseSchedule(1000, "scaled_linear", 0.00085, 0.012);
        Assert.Equal(0.00085, schedule.Betas[0].item<double>(), 12);
        Assert.Equal(0.012, schedule.Betas[999].item<double>(), 12);
        // ᾱ_T of LDM's schedule: the product of (1 − β) computed here independently in doubles.
        double product = 1;
        for (var i = 0; i < 1000; i++)
        {
            var s = Math.Sqrt(0.00085) + (Math.Sqrt(0.012) - Math.Sqrt(0.00085)) * i / 999;
            product *= 1 - s * s;
        }
        Assert.Equal(product, schedule.AlphasCumprod[999].item<double>(), 10);
        var x0 = torch.ones(2, 1);
        var noisy = schedule.AddNoise(x0, torch.zeros(2, 1), torch.tensor(new long[] { 0, 999 }));
        Assert.Equal(Math.Sqrt(product), noisy[1, 0].item<float>(), 5);
    }

    [Fact]
    public void Stage2_at_init_reproduces_stage1_exactly_and_trains_only_frequency_attention()
    {
        using var scope = torch.NewDisposeScope();
        var config = Tiny();
        var unet = new UNet(config.Unet);
        ModelGoldenTests.Randomise(unet, 21, 0.1); // stands in for trained weights (several projections start at zero)
        using var stage2 = new FrequencyCoordinatedUNet(unet, config.Stage2);
        var (b, k) = (2L, 3L);
        var noisy = torch.randn([b, k, 4, 4, 4]);
        var image = torch.randn(b, 3, 32, 32);
        var t = torch.tensor(new long[] { 10, 700 });
        var keep = torch.tensor(new[] { true, false });

        var coordinated = stage2.forward(noisy, t, image, keep);
        Tensor single;
        using (torch.no_grad())
            single = unet.forward(noisy.reshape(b * k, 4, 4, 4), t.repeat_interleave(k), torch.arange(k).repeat(b),
                image.repeat_interleave(k, 0), keep.repeat_interleave(k));
        Assert.True(single.abs().sum().item<float>() > 0);
        Assert.True(Same(coordinated.reshape(b * k, 4, 4, 4), single), "stage 2 at step 0 differs from stage 1");

        coordinated.pow(2).mean().backward();
        Assert.All(unet.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(unet.parameters(), p => Assert.Null(p.grad));
        var trainable = stage2.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Assert.NotEmpty(trainable);
        Assert.All(trainable, p => Assert.StartsWith("freq_attn.", p.name));
        Assert.Contains(trainable, p => p.parameter.grad!.abs().sum().item<float>() > 0);
    }

    /// <summary>
    /// <c>bins_per_slice</c> G = 4 over K = 16: training draws slice k as bins 4k…4k+3 in order, sampling feeds the
    /// U-Net the same layout (each volume's slice k is its bins 4k…4k+3 as 16 channels, with index k), and stage 2
    /// attends across the 4 slices (at init it reproduces stage 1).
    /// </summary>
    [Fact]
    public void Bins_per_slice_groups_adjacent_bins_the_same_way_in_training_and_sampling()
    {
        using var scope = torch.NewDisposeScope();
        var config = Tiny("unet.bins_per_slice=4");
        var latents = torch.arange(16, dtype: ScalarType.Float32).reshape(1, 16, 1, 1, 1).expand(3, 16, 4, 8, 8).contiguous();
        var (slices, index) = StageLosses.RandomSliceLatents(latents, 4, new torch.Generator(5));
        Assert.Equal([3L, 16, 8, 8], slices.shape);
        for (var i = 0; i < 3; i++)
            for (var c = 0; c < 16; c++)
                Assert.Equal(4 * index[i].item<long>() + c / 4, (long)slices[i, c, 0, 0].item<float>());

        var unet = new UNet(config.Unet);
        ModelGoldenTests.Randomise(unet, 22, 0.1);
        var noisy = torch.randn([2, 16, 4, 4, 4]);
        var image = torch.randn(2, 3, 32, 32);
        var t = torch.tensor(new long[] { 10, 700 });
        var keep = torch.tensor(new[] { true, false });
        Tensor volume, one;
        using (torch.no_grad())
        {
            volume = unet.ForwardVolume(noisy, t, image, keep);
            one = unet.forward(noisy[1, 8..12].reshape(1, 16, 4, 4), t[1..2], torch.tensor(new long[] { 2 }), image[1..2], keep[1..2]);
        }
        Assert.True(one.abs().sum().item<float>() > 0);
        Assert.True(volume[1, 8..12].reshape(1, 16, 4, 4).sub(one).abs().max().item<float>() < 1e-5, "slice 2 of volume 1 is not bins 8…11");

        using var stage2 = new FrequencyCoordinatedUNet(unet, config.Stage2);
        using (torch.no_grad())
            Assert.True(Same(stage2.forward(noisy, t, image, keep), volume), "stage 2 at step 0 differs from stage 1");
        Assert.Throws<ArgumentException>(() => unet.ForwardVolume(torch.randn([2, 6, 4, 4, 4]), t, image, keep));
    }

    /// <summary>
    /// The LDM stages' latent cache returns what encoding returns, bit for bit, whichever samples share a batch and
    /// whether the sample was held or not; it holds no more than its capacity, and nothing without keys.
    /// </summary>
    [Fact]
    public void Latent_cache_returns_the_encoder_s_bits_and_keeps_to_its_capacity()
    {
        using var scope = torch.NewDisposeScope();
        var config = Tiny();
        using var vae = new AutoencoderKL(config.Vae);
        ModelGoldenTests.Randomise(vae, 23, 0.1);
        vae.eval();
        var volumes = torch.randn([3, 16, 4, 16, 16]);
        Tensor Direct(int i) => StageLosses.Latents(vae, volumes[i]);
        var perSample = 16L * 4 * 2 * 2 * sizeof(float);
        using var cache = new LatentCache(vae, 2 * perSample);
        var first = cache.Get(volumes, ["a", "b", "c"]);
        Assert.Equal([3L, 16, 4, 2, 2], first.shape);
        Assert.Equal(2, cache.Count);
        Assert.Equal(2 * perSample, cache.Bytes);
        var again = cache.Get(volumes[torch.tensor(new long[] { 2, 0 })], ["c", "a"]);
        for (var i = 0; i < 3; i++)
            Assert.True(Same(first[i], Direct(i)), $"sample {i}: the cache's latents differ from a direct encoding");
        Assert.True(Same(again[0], Direct(2)) && Same(again[1], Direct(0)), "a held or re-encoded sample differs in another batch");
        using var keyless = new LatentCache(vae, 1L << 30);
        Assert.True(Same(keyless.Get(volumes, null), first));
        Assert.Equal(0, keyless.Count);
    }

    [Fact]
    public void Renderer_shapes_gradients_and_perceptual_term_off_without_weights()
    {
        using var scope = torch.NewDisposeScope();
        using var renderer = new Renderer(Tiny().Renderer);
        var image = torch.rand(2, 3, 16, 20);
        var flows = torch.randn([2, 4, 2, 16, 20]);
        var output = renderer.forward(image, flows[.., 1], SoftmaxSplatting.Importance(flows));
        Assert.Equal(image.shape, output.shape);
        var messages = new List<string>();
        using var loss = new RendererLoss(null, 0.1, messages.Add);
        Assert.False(loss.Perceptual);
        Assert.Contains(messages, m => m.Contains("perceptual term off", StringComparison.Ordinal));
        loss.Compute(output, image).backward();
        AssertGradients(renderer, "Renderer");
    }

    [Fact]
    public void Splatting_with_zero_flow_is_the_identity_and_a_shift_moves_features()
    {
        using var scope = torch.NewDisposeScope();
        var f = torch.randn(1, 2, 5, 6);
        var w = torch.randn(1, 1, 5, 6);
        PyTensors.AssertClose(SoftmaxSplatting.Splat(f, torch.zeros(1, 2, 5, 6), w), f, 1e-6, "zero flow");
        var shift = torch.zeros(1, 2, 5, 6);
        shift[0, 0] = torch.ones(5, 6); // one pixel right
        var moved = SoftmaxSplatting.Splat(f, shift, w);
        PyTensors.AssertClose(moved[.., .., .., 1..], f[.., .., .., ..^1], 1e-6, "shift right");
        Assert.Equal(0f, moved[.., .., .., 0].abs().sum().item<float>());
    }

    /// <summary>Adam on one fixed batch; returns (first loss, last loss).</summary>
    private static (float First, float Last) Overfit(nn.Module model, Func<Tensor> loss, int steps, double lr)
    {
        using var opt = optim.Adam(model.parameters().Where(p => p.requires_grad), lr);
        float first = 0, last = 0;
        for (var i = 0; i < steps; i++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            var l = loss();
            l.backward();
            opt.step();
            last = l.item<float>();
            if (i == 0) first = last;
        }
        return (first, last);
    }

    [Fact]
    public void Tiny_vae_overfits_a_fixed_batch()
    {
        torch.manual_seed(1);
        var config = Tiny().Vae;
        using var vae = new AutoencoderKL(config);
        using var x = torch.randn(2, 4, 16, 16).cumsum(3) * 0.3; // smooth-ish slices
        var (first, last) = Overfit(vae, () =>
        {
            using var posterior = vae.Encode(x);
            return VaeLoss.Compute(vae.Decode(posterior.Mean), x, posterior, config).Total;
        }, 25, 3e-3);
        Assert.True(last < first / 2, $"VAE loss {first} → {last}, expected at least 2× lower after 25 steps");
    }

    [Fact]
    public void Tiny_stage1_overfits_a_fixed_batch()
    {
        torch.manual_seed(2);
        var config = Tiny().Unet;
        using var unet = new UNet(config);
        using var schedule = new NoiseSchedule(config);
        using var latents = torch.randn(4, 4, 2, 2);
        using var image = torch.rand(4, 3, 16, 16);
        using var k = torch.tensor(new long[] { 0, 1, 2, 3 });
        // The same noise, steps and dropout draw every step: one fixed batch.
        var (first, last) = Overfit(unet, () => unet.Loss(schedule, latents, k, image, new torch.Generator(3)), 30, 3e-3);
        Assert.True(last < first / 2, $"stage-1 loss {first} → {last}, expected at least 2× lower after 30 steps");
    }

    [Fact]
    public void Tiny_stage2_overfits_a_fixed_batch_with_stage1_unchanged()
    {
        torch.manual_seed(4);
        var config = Tiny();
        var unet = new UNet(config.Unet);
        ModelGoldenTests.Randomise(unet, 5, 0.1);
        var before = unet.parameters().Select(p => p.detach().clone()).ToList();
        using var stage2 = new FrequencyCoordinatedUNet(unet, config.Stage2);
        using var noisy = torch.randn([2, 3, 4, 2, 2]);
        using var target = torch.randn([2, 3, 4, 2, 2]);
        using var image = torch.rand(2, 3, 16, 16);
        using var t = torch.tensor(new long[] { 100, 600 });
        var (first, last) = Overfit(stage2, () => F.mse_loss(stage2.forward(noisy, t, image), target), 30, 1e-2);
        // Only the frequency attention learns, towards a random target: a modest but clear drop.
        Assert.True(last < first / 1.15, $"stage-2 loss {first} → {last}, expected at least 1.15× lower after 30 steps");
        Assert.All(unet.parameters().Zip(before), pair => Assert.True(Same(pair.First, pair.Second)));
    }

    [Fact]
    public void Tiny_renderer_overfits_a_fixed_batch()
    {
        torch.manual_seed(6);
        using var renderer = new Renderer(Tiny().Renderer);
        using var loss = new RendererLoss(null, 0.1, _ => { });
        using var image = torch.rand(2, 3, 16, 16);
        using var flows = torch.randn([2, 3, 2, 16, 16]);
        using var importance = SoftmaxSplatting.Importance(flows);
        using var target = torch.rand(2, 3, 16, 16);
        var (first, last) = Overfit(renderer, () => loss.Compute(renderer.forward(image, flows[.., 0], importance), target), 30, 3e-3);
        Assert.True(last < first / 2, $"renderer loss {first} → {last}, expected at least 2× lower after 30 steps");
    }
}
