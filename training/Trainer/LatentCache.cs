using GidCluster.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Training.Trainer;

/// <summary>
/// The frozen VAE's latents of all K bins of each training sample, kept by sample key (video, start frame, mirrored)
/// for the LDM stages. The VAE is frozen and its latent is the posterior mean, so a sample's latents never change,
/// yet encoding them was most of a step: ldm1 at batch 8 per rank with 16 bins per slice spent about 0.8 s of each
/// step encoding 128 slices. Each missing sample is encoded alone (its K slices as one batch), so its latents' bits do
/// not depend on which samples shared its batch and a resumed run computes what the uninterrupted one did. Samples
/// beyond <c>capacityBytes</c>, or without keys, are encoded every time.
/// </summary>
public sealed class LatentCache(AutoencoderKL vae, long capacityBytes = 0) : IDisposable
{
    private readonly Dictionary<string, Tensor> _latents = new(StringComparer.Ordinal);

    /// <summary>Bytes held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Samples held.</summary>
    public int Count => _latents.Count;

    /// <summary><paramref name="volumes"/> <c>[B, K, 4, H, W]</c> (normalized) → latents <c>[B, K, Z, H/f, W/f]</c>, no gradients.</summary>
    public Tensor Get(Tensor volumes, string[]? keys)
    {
        if (keys is not null && keys.Length != volumes.shape[0])
            throw new ArgumentException($"{keys.Length} sample keys for a batch of {volumes.shape[0]}", nameof(keys));
        using var scope = NewDisposeScope();
        var rows = new Tensor[volumes.shape[0]];
        for (var i = 0; i < rows.Length; i++)
        {
            if (keys is not null && _latents.TryGetValue(keys[i], out var held))
            {
                rows[i] = held;
                continue;
            }
            rows[i] = StageLosses.Latents(vae, volumes[i]);
            var size = rows[i].NumberOfElements * rows[i].ElementSize;
            if (keys is not null && Bytes + size <= capacityBytes)
            {
                _latents[keys[i]] = rows[i].clone().DetachFromDisposeScope();
                Bytes += size;
            }
        }
        return stack(rows).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in _latents.Values) t.Dispose();
        _latents.Clear();
        Bytes = 0;
    }
}
