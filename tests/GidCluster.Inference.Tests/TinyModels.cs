using GidCluster.Inference.Models;
using GidCluster.Training.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

/// <summary>Model folders made from freshly initialised <c>tiny</c> models (no trained checkpoints exist yet).</summary>
public static class TinyModels
{
    public const int Width = 64;
    public const int Height = 48;

    /// <summary>Writes a complete model folder (stage 2 unless ldm1) into <paramref name="directory"/> with weights drawn from <paramref name="seed"/>.</summary>
    public static ModelDescription Write(string directory, long seed = 1, string stage = "ldm2", int width = Width, int height = Height) =>
        UntrainedModelFolder.Write(directory, ModelConfig.Load("tiny"), width, height, seed, stage);

    /// <summary>A smooth test picture in [−1, 1], <c>[1, 3, H, W]</c>.</summary>
    public static Tensor Picture(long seed = 3, int width = Width, int height = Height)
    {
        var g = new Generator((ulong)seed);
        var coarse = rand([1, 3, height / 8, width / 8], generator: g) * 2 - 1;
        return nn.functional.interpolate(coarse, size: [height, width], mode: InterpolationMode.Bilinear, align_corners: false);
    }
}
