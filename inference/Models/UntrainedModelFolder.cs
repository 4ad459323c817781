using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Models;

/// <summary>
/// A model folder of freshly initialised networks (seeded), in the same layout training writes: for tests and
/// benchmarks, which need the real networks' cost and shapes before any trained checkpoint exists.
/// </summary>
public static class UntrainedModelFolder
{
    /// <summary>Writes model.json, vae.pt, ldm.pt (stage 2 unless <paramref name="stage"/> is ldm1) and renderer.pt.</summary>
    public static ModelDescription Write(string directory, ModelConfig config, int width, int height, long seed = 1, string stage = "ldm2", double fps = 30, int period = 149)
    {
        manual_seed(seed);
        Directory.CreateDirectory(directory);
        using (var vae = new AutoencoderKL(config.Vae))
            Save(Path.Combine(directory, ModelBundle.VaeFile), vae);
        using (var unet = new UNet(config.Unet))
        {
            if (stage == "ldm2")
            {
                using var stage2 = new FrequencyCoordinatedUNet(unet, config.Stage2);
                // A fresh stage 2 equals stage 1 (zero-initialised frequency attention): give the attention weights to work with.
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
        var k = (int)config.Unet.Frequencies;
        var description = new ModelDescription(ModelDescription.FormatName, config, stage,
            Enumerable.Range(0, k).Select(i => 40f / (1 + i)).ToArray(),
            Enumerable.Range(0, k).Select(i => i * fps / period).ToArray(),
            fps, [width, height], new ModelRuns(null, null, null));
        description.Write(directory);
        return description;
    }

    private static void Save(string path, nn.Module model)
    {
        using var optimizer = optim.Adam(model.parameters(), 1e-4);
        TrainingCheckpoint.Save(path, model, optimizer, new TrainingPosition(0, 0, 0));
    }
}
