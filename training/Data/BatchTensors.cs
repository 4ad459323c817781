using GidCluster.Dataprep.Shards;
using TorchSharp;

namespace GidCluster.Training.Data;

/// <summary>The loader's batches as tensors: the one place where dataprep's float arrays become TorchSharp tensors.</summary>
public static class BatchTensors
{
    /// <summary>
    /// Images <c>[B, 3, H, W]</c> and spectral volumes <c>[B, K=16, 4, H, W]</c> (float32, on <paramref name="device"/>).
    /// Both are fresh tensors owned by the caller (or the current dispose scope).
    /// </summary>
    public static (torch.Tensor Images, torch.Tensor Volumes) ToTensors(this Batch batch, torch.Device? device = null)
    {
        var images = torch.tensor(batch.Images, [batch.Size, 3, batch.Height, batch.Width]);
        var volumes = torch.tensor(batch.Volumes, [batch.Size, 16, 4, batch.Height, batch.Width]);
        if (device is null)
            return (images, volumes);
        using (images)
        using (volumes)
            return (images.to(device), volumes.to(device));
    }
}
