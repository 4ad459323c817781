using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.Training.Data;

namespace GidCluster.Torch.Tests;

/// <summary>Shards written by dataprep come out of the loader as tensors with the documented shapes and values.</summary>
public class BatchTensorsTests
{
    [Fact]
    public void Loader_batches_become_image_and_spectral_volume_tensors()
    {
        const int w = 8, h = 6;
        using var dir = Paths.NewTempDir();
        var rng = new Random(5);
        var samples = Enumerable.Range(0, 4).Select(i => new Sample(
            "clip", i * 10, 30f, w, h,
            Enumerable.Range(0, h * w * 3).Select(_ => (byte)rng.Next(256)).ToArray(),
            Enumerable.Range(0, 16 * 4 * h * w).Select(_ => (Half)(rng.NextDouble() * 4 - 2)).ToArray(),
            [], [], "file:clip.mp4", "dis-medium", new SampleQuality(0.5, 1, 0, []), "train")).ToList();
        IReadOnlyList<ShardInfo> shards;
        using (var set = new ShardSetWriter(dir.Path, new ShardWriterOptions()))
        {
            foreach (var s in samples)
                set.Write(s);
            shards = set.Complete();
        }
        var manifest = ManifestFile.Write(dir.Path, DatasetManifest.Create(shards, ["clip"], new NormalizationInfo([.. Enumerable.Repeat(1f, 16)], 95, null)));
        var loader = SampleLoader.Open(manifest, new LoaderOptions { Split = null, BatchSize = 2, FlipProbability = 0, Normalize = false });

        var batch = loader.Epoch(0).First();
        using var scope = torch.NewDisposeScope();
        var (images, volumes) = batch.ToTensors();
        Assert.Equal([2L, 3, h, w], images.shape);
        Assert.Equal([2L, 16, 4, h, w], volumes.shape);
        Assert.Equal(batch.Images, images.ToArray<float>());
        Assert.Equal(batch.Volumes, volumes.ToArray<float>());
        // Unnormalized volumes are the stored fp16 coefficients of the samples in the batch.
        var first = samples.Single(s => s.StartFrame == batch.StartFrames[0]);
        Assert.Equal((float)first.SpectralVolume[5], volumes.ToArray<float>()[5]);
    }
}
