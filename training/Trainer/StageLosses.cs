using GidCluster.Training.Models;
using GidCluster.Training.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Training.Trainer;

/// <summary>
/// Batch → loss for each stage. Every random draw (which frequency slice, the VAE's posterior sample, timesteps,
/// noise, condition dropout) comes from <c>generator</c>, which the trainer seeds from (seed, step, micro-batch, data
/// shard): the same sample gets the same draws whichever rank holds it, and a resumed run draws what it would have.
/// </summary>
public static class StageLosses
{
    /// <summary>One random slice per sample: <c>[B, K, C, H, W]</c> → (<c>[B, C, H, W]</c>, k <c>[B]</c>).</summary>
    public static (Tensor Slices, Tensor Bins) RandomSlices(Tensor volumes, Generator generator)
    {
        var b = volumes.shape[0];
        var k = randint(0, volumes.shape[1], [b], dtype: ScalarType.Int64, generator: generator);
        using var rows = arange(b, dtype: ScalarType.Int64);
        return (volumes.index([TensorIndex.Tensor(rows), TensorIndex.Tensor(k)]), k);
    }

    /// <summary>The VAE objective on one random slice per sample.</summary>
    public static Tensor Vae(AutoencoderKL vae, Tensor volumes, Generator generator)
    {
        using var scope = NewDisposeScope();
        var (x, _) = RandomSlices(volumes, generator);
        using var posterior = vae.Encode(x);
        var reconstruction = vae.Decode(posterior.Sample(generator));
        var (total, _, _, _) = VaeLoss.Compute(reconstruction, x, posterior, vae.Config);
        return total.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The latent of each slice under the frozen VAE: its posterior mean, unscaled (what the LDM stages denoise and
    /// inference decodes). <c>[N, 4, H, W]</c> → <c>[N, Z, H/f, W/f]</c>.
    /// </summary>
    public static Tensor Latents(AutoencoderKL vae, Tensor slices)
    {
        using var noGrad = no_grad();
        using var posterior = vae.Encode(slices);
        return posterior.Mean.clone();
    }

    /// <summary>
    /// One random slice of <paramref name="binsPerSlice"/> = G adjacent bins per sample: latents <c>[B, K, Z, h, w]</c>
    /// are viewed as K/G slices; slice k holds bins <c>k·G … k·G+G−1</c> as channels (the layout of
    /// <see cref="UNet.ForwardVolume"/>) → (<c>[B, G·Z, h, w]</c>, k <c>[B]</c>).
    /// </summary>
    public static (Tensor Slices, Tensor Index) RandomSliceLatents(Tensor latents, long binsPerSlice, Generator generator)
    {
        var (b, g) = (latents.shape[0], binsPerSlice);
        using var grouped = latents.reshape([b, latents.shape[1] / g, g * latents.shape[2], .. latents.shape[3..]]);
        return RandomSlices(grouped, generator);
    }

    /// <summary>
    /// Stage 1: ε-prediction MSE on one random slice's latent per sample (its G bins' latents stacked as channels,
    /// G = 1 in the paper), conditioned on the start image.
    /// </summary>
    public static Tensor Stage1(UNet unet, NoiseSchedule schedule, LatentCache latents, Tensor images, Tensor volumes, string[]? keys, Generator generator)
    {
        using var scope = NewDisposeScope();
        var (x, k) = RandomSliceLatents(latents.Get(volumes, keys), unet.Config.BinsPerSlice, generator);
        return unet.Loss(schedule, x, k, images, generator).MoveToOuterDisposeScope();
    }

    /// <summary>Stage 2: all K slices of a sample denoised together, one timestep per sample, ε-prediction MSE.</summary>
    public static Tensor Stage2(FrequencyCoordinatedUNet model, NoiseSchedule schedule, LatentCache latents, Tensor images, Tensor volumes, string[]? keys, Generator generator)
    {
        using var scope = NewDisposeScope();
        var z = latents.Get(volumes, keys);
        var b = z.shape[0];
        var t = randint(0, schedule.Timesteps, [b], dtype: ScalarType.Int64, generator: generator);
        var noise = randn(z.shape, generator: generator);
        var keep = model.Stage1.DrawKeepMask(b, generator);
        var prediction = model.forward(schedule.AddNoise(z, noise, t), t, images, keep);
        return nn.functional.mse_loss(Autocast.ToFloat32(prediction), noise).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The flows the renderer is trained on: F_t of each sample at its own target offset t (frames after I_0), from the
    /// sample's raw spectral volume through the motion texture, and the splatting weight from one period of it. This is
    /// exactly what inference feeds the renderer (<c>Animator.Render</c>: the motion texture of the denormalized volume),
    /// so the renderer learns on the flows it will see, not on optical flow of another estimator.
    /// <c>volumes</c> <c>[B, K, 4, H, W]</c> raw → (flow <c>[B, 2, H, W]</c>, importance <c>[B, 1, H, W]</c>), no gradients.
    /// </summary>
    public static (Tensor Flow, Tensor Importance) RendererFlows(Tensor volumes, IReadOnlyList<int> offsets, int period)
    {
        if (offsets.Count != volumes.shape[0])
            throw new ArgumentException($"{offsets.Count} target offsets for a batch of {volumes.shape[0]}", nameof(offsets));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flows = new Tensor[offsets.Count];
        for (var b = 0; b < offsets.Count; b++)
            flows[b] = MotionTexture.Displacements(volumes.narrow(0, b, 1), [offsets[b]], period)[0];
        var importance = MotionTexture.Importance(volumes, period);
        return (cat(flows, 0).MoveToOuterDisposeScope(), importance.MoveToOuterDisposeScope());
    }

    /// <summary>The renderer: I_0 warped by F_t through the network, against I_t (L1 + perceptual). Images in [0, 1].</summary>
    public static Tensor Renderer(Renderer renderer, RendererLoss loss, Tensor images, Tensor volumes, Tensor targets, IReadOnlyList<int> offsets, int period)
    {
        using var scope = NewDisposeScope();
        var (flow, importance) = RendererFlows(volumes, offsets, period);
        return loss.Compute(renderer.forward(images, flow, importance), targets).MoveToOuterDisposeScope();
    }
}
