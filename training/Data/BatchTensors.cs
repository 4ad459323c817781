using GidCluster.Dataprep.Shards;
using TorchSharp;

namespace GidCluster.Training.Data;

/// <summary>
/// One micro-batch as tensors: images <c>[B, 3, H, W]</c>, spectral volumes <c>[B, K=16, 4, H, W]</c>, and for the
/// renderer the target frames <c>[B, 3, H, W]</c> with their offsets in frames after the start image.
/// </summary>
/// <param name="Keys">Each sample's identity (video, start frame, mirrored or not): equal keys mean equal images and volumes.</param>
public sealed record TrainingBatch(torch.Tensor Images, torch.Tensor Volumes, torch.Tensor? Targets = null, int[]? TargetOffsets = null, string[]? Keys = null);

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

    /// <summary>The whole batch, target frames included when the loader carried them (CPU tensors).</summary>
    public static TrainingBatch ToTrainingBatch(this Batch batch)
    {
        var (images, volumes) = batch.ToTensors();
        var targets = batch.Targets is null ? null : torch.tensor(batch.Targets, [batch.Size, 3, batch.Height, batch.Width]);
        var keys = Enumerable.Range(0, batch.Size).Select(i => $"{batch.VideoIds[i]}@{batch.StartFrames[i]}{(batch.Flipped[i] ? "/mirrored" : "")}").ToArray();
        return new TrainingBatch(images, volumes, targets, batch.TargetOffsets, keys);
    }
}
