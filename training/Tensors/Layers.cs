using TorchSharp;
using TorchSharp.Modules;

namespace GidCluster.Training.Tensors;

/// <summary>
/// Module factories for the cases where TorchSharp 0.107's own factory is not PyTorch's module.
/// Model code builds these modules through here, never through <c>torch.nn</c> directly.
/// </summary>
public static class Layers
{
    /// <summary>
    /// <c>nn.GroupNorm</c> with PyTorch's initialisation (weight 1, bias 0). TorchSharp 0.107.0
    /// allocates the affine parameters with <c>torch.empty</c> and never resets them, so without this
    /// they hold whatever was in memory (NaN loss from the first step).
    /// </summary>
    public static GroupNorm GroupNorm(long numGroups, long numChannels, double eps = 1e-5, bool affine = true)
    {
        var norm = torch.nn.GroupNorm(numGroups, numChannels, eps, affine);
        if (affine)
        {
            using var noGrad = torch.no_grad();
            torch.nn.init.ones_(norm.weight);
            torch.nn.init.zeros_(norm.bias!);
        }
        return norm;
    }
}
