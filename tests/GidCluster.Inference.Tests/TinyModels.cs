using GidCluster.Inference.Models;
using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

/// <summary>Model folders made from freshly initialised <c>tiny</c> models (no trained checkpoints exist yet).</summary>
public static class TinyModels
{
    public const int Width = 64;
    public const int Height = 48;

    /// <summary>Writes a complete stage-2 model folder into <paramref name="directory"/> with weights drawn from <paramref name="seed"/>.</summary>
    public static ModelDescription Write(string directory, long seed = 1, string stage = "ldm2", int width = Width, int height = Height)
    {
        manual_seed(seed);
        var config = ModelConfig.Load("tiny");
        Directory.CreateDirectory(directory);
        using (var vae = new AutoencoderKL(config.Vae))
            Save(Path.Combine(directory, ModelBundle.VaeFile), vae);
        using (var unet = new UNet(config.Unet))
        {
            if (stage == "ldm2")
            {
                using var stage2 = new FrequencyCoordinatedUNet(unet, config.Stage2);
                // Fresh stage 2 equals stage 1 (zero-initialised frequency attention): give it something to do.
                using (no_grad())
                    foreach (var (name, p) in stage2.named_parameters())
                        if (name.StartsWith("freq_attn", StringComparison.Ordinal)) p.normal_(0, 0.05);
                Save(Path.Combine(directory, ModelBundle.LdmFile), stage2);
            }
            else
            {
                Save(Path.Combine(directory, ModelBundle.LdmFile), unet);
            }
        }
        using (var renderer = new Renderer(config.Renderer))
            Save(Path.Combine(directory, ModelBundle.RendererFile), renderer);
        var description = new ModelDescription(ModelDescription.FormatName, config, stage,
            Enumerable.Range(0, 16).Select(k => 40f / (1 + k)).ToArray(),
            Enumerable.Range(0, 16).Select(k => k * 30.0 / 149).ToArray(),
            30, [width, height], new ModelRuns(null, null, null));
        description.Write(directory);
        return description;
    }

    private static void Save(string path, nn.Module model)
    {
        using var optimizer = optim.Adam(model.parameters(), 1e-4);
        TrainingCheckpoint.Save(path, model, optimizer, new TrainingPosition(1, 0, 1));
    }

    /// <summary>A smooth test picture in [−1, 1], <c>[1, 3, H, W]</c>.</summary>
    public static Tensor Picture(long seed = 3, int width = Width, int height = Height)
    {
        var g = new Generator((ulong)seed);
        var coarse = rand([1, 3, height / 8, width / 8], generator: g) * 2 - 1;
        return nn.functional.interpolate(coarse, size: [height, width], mode: InterpolationMode.Bilinear, align_corners: false);
    }
}
