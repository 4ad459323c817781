using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Inference.Models;

/// <summary>
/// A loaded model folder: the VAE, the diffusion model (stage 2, or stage 1 run slice by slice) and the renderer,
/// in eval mode with gradients off for their parameters. Image ranges follow training: the LDM's condition image
/// is in [−1, 1] (the sample loader's), the renderer's input and output in [0, 1] (the renderer loss's).
/// </summary>
public sealed class ModelBundle : IDisposable
{
    public const string VaeFile = "vae.pt";
    public const string LdmFile = "ldm.pt";
    public const string RendererFile = "renderer.pt";

    private ModelBundle(string directory, ModelDescription description, AutoencoderKL vae, UNet stage1, FrequencyCoordinatedUNet? stage2, Renderer renderer)
    {
        Directory = directory;
        Description = description;
        Vae = vae;
        Stage1 = stage1;
        Stage2 = stage2;
        Renderer = renderer;
        Schedule = new NoiseSchedule(description.Config.Unet);
    }

    public string Directory { get; }
    public ModelDescription Description { get; }
    public AutoencoderKL Vae { get; }
    public UNet Stage1 { get; }

    /// <summary>Null when the folder holds a stage-1 model (<c>ldm_stage</c> = <c>ldm1</c>).</summary>
    public FrequencyCoordinatedUNet? Stage2 { get; }
    public Renderer Renderer { get; }
    public NoiseSchedule Schedule { get; }

    /// <summary>Loads <c>model.json</c> and the three checkpoints; a missing file or a checkpoint for another model is an <see cref="InvalidDataException"/> or <see cref="FileNotFoundException"/> naming it.</summary>
    public static ModelBundle Load(string directory)
    {
        var description = ModelDescription.Read(directory);
        var config = description.Config;
        foreach (var file in new[] { VaeFile, LdmFile, RendererFile })
        {
            var path = Path.Combine(directory, file);
            if (!File.Exists(path))
                throw new FileNotFoundException($"model folder {directory} has no {file}", path);
        }
        var vae = new AutoencoderKL(config.Vae);
        var stage1 = new UNet(config.Unet);
        var renderer = new Renderer(config.Renderer);
        FrequencyCoordinatedUNet? stage2 = null;
        try
        {
            TrainingCheckpoint.LoadWeights(Path.Combine(directory, VaeFile), vae);
            if (description.LdmStage == "ldm2")
            {
                stage2 = new FrequencyCoordinatedUNet(stage1, config.Stage2);
                TrainingCheckpoint.LoadWeights(Path.Combine(directory, LdmFile), stage2);
            }
            else
            {
                TrainingCheckpoint.LoadWeights(Path.Combine(directory, LdmFile), stage1);
            }
            TrainingCheckpoint.LoadWeights(Path.Combine(directory, RendererFile), renderer);
        }
        catch
        {
            vae.Dispose();
            (stage2 as nn.Module ?? stage1).Dispose();
            renderer.Dispose();
            throw;
        }
        foreach (nn.Module m in new nn.Module[] { vae, stage1, renderer })
        {
            m.eval();
            foreach (var p in m.parameters()) p.requires_grad = false;
        }
        stage2?.eval();
        if (stage2 is not null)
            foreach (var p in stage2.parameters()) p.requires_grad = false;
        return new ModelBundle(directory, description, vae, stage1, stage2, renderer);
    }

    /// <summary>
    /// ε for all K slices at once: <paramref name="noisy"/> <c>[B, K, Z, h, w]</c>, <paramref name="t"/> <c>[B]</c>,
    /// <paramref name="image"/> <c>[B, 3, H, W]</c> in [−1, 1], <paramref name="keep"/> <c>[B]</c> (false = no condition).
    /// Stage 2 denoises the slices together; stage 1 sees each slice alone with its index.
    /// </summary>
    public Tensor PredictNoise(Tensor noisy, Tensor t, Tensor image, Tensor keep) =>
        Stage2 is not null ? Stage2.forward(noisy, t, image, keep) : Stage1.ForwardVolume(noisy, t, image, keep);

    /// <summary>Latents <c>[B, K, Z, h, w]</c> → raw (denormalized) spectral volumes <c>[B, K, 4, H, W]</c>; differentiable.</summary>
    public Tensor DecodeVolume(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var (b, k) = (latents.shape[0], latents.shape[1]);
        var normalized = Vae.Decode(latents.reshape([b * k, .. latents.shape[2..]]));
        normalized = normalized.reshape([b, k, .. normalized.shape[1..]]);
        var s = tensor(Description.Scales, dtype: normalized.dtype).reshape(1, k, 1, 1, 1);
        // The inverse of dataprep's S' = sign(S)·sqrt(|S|/s_k) (SpectralNormalization), in tensor ops for gradients.
        return (normalized * normalized.abs() * s).MoveToOuterDisposeScope();
    }

    /// <summary>The latent shape of one sample: <c>[K, Z, H/f, W/f]</c>.</summary>
    public long[] LatentShape
    {
        get
        {
            var c = Description.Config;
            var f = c.Vae.DownFactor;
            return [c.Unet.Frequencies, c.Unet.LatentChannels, Description.Height / f, Description.Width / f];
        }
    }

    public void Dispose()
    {
        Vae.Dispose();
        (Stage2 as nn.Module ?? Stage1).Dispose();
        Renderer.Dispose();
        Schedule.Dispose();
    }
}
