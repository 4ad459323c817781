using System.Runtime.InteropServices;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;

namespace GidCluster.Parquet.Tests;

public class LoaderTests
{
    private static readonly float[] Scales = Enumerable.Range(0, 16).Select(k => 2f / (k + 1)).ToArray();

    /// <summary>Writes samples (unique start frames) as small-row-group shards plus a manifest; returns the manifest path.</summary>
    private static string MakeDataset(string dir, List<Sample> samples, bool withScales = true)
    {
        IReadOnlyList<ShardInfo> shards;
        using (var set = new ShardSetWriter(dir, new ShardWriterOptions { RowGroupBytes = 12_000, MaxShardBytes = 80_000 }))
        {
            foreach (var s in samples)
                set.Write(s);
            shards = set.Complete();
        }
        var manifest = DatasetManifest.Create(shards, samples.Select(s => s.VideoId), withScales ? new NormalizationInfo(Scales, 95, null) : null);
        return ManifestFile.Write(dir, manifest);
    }

    private static List<Sample> Samples(int count, int seed = 31) =>
        SampleFactory.Many(seed, count).Select((s, i) => s with { StartFrame = i * 10 }).ToList();

    [Fact]
    public void Ranks_get_disjoint_equal_deterministic_shares_of_the_split()
    {
        using var dir = Paths.NewTempDir();
        var samples = Samples(50);
        var manifest = MakeDataset(dir.Path, samples);
        var train = samples.Where(s => s.Split == "train").Select(s => s.StartFrame).ToHashSet();
        const int world = 3;
        var perRank = new List<List<int>>();
        for (var rank = 0; rank < world; rank++)
        {
            var options = new LoaderOptions { BatchSize = 4, Rank = rank, WorldSize = world, Seed = 42, DropLast = false, Normalize = false, FlipProbability = 0 };
            var loader = SampleLoader.Open(manifest, options);
            Assert.Equal(train.Count, loader.TotalSamples);
            Assert.Equal(train.Count / world, loader.SamplesPerRank);
            var frames = loader.Epoch(0).SelectMany(b => b.StartFrames).ToList();
            Assert.Equal(loader.SamplesPerRank, frames.Count);
            // Deterministic: a second loader with the same seed and epoch sees the same order.
            var again = SampleLoader.Open(manifest, options).Epoch(0).SelectMany(b => b.StartFrames).ToList();
            Assert.Equal(frames, again);
            // Another epoch reorders.
            Assert.NotEqual(frames, loader.Epoch(1).SelectMany(b => b.StartFrames).ToList());
            perRank.Add(frames);
        }
        var all = perRank.SelectMany(f => f).ToList();
        Assert.Equal(all.Count, all.Distinct().Count()); // disjoint
        Assert.All(all, f => Assert.Contains(f, train)); // only the train split
        Assert.Equal(train.Count / world * world, all.Count);

        // Another seed gives another order.
        var other = SampleLoader.Open(manifest, new LoaderOptions { BatchSize = 4, Seed = 43, Normalize = false, DropLast = false }).Epoch(0).SelectMany(b => b.StartFrames).ToList();
        var same = SampleLoader.Open(manifest, new LoaderOptions { BatchSize = 4, Seed = 42, Normalize = false, DropLast = false }).Epoch(0).SelectMany(b => b.StartFrames).ToList();
        Assert.NotEqual(same, other);
        Assert.Equal(same.Order(), other.Order());
    }

    [Fact]
    public void Batches_hold_normalized_volumes_and_flips_exactly_as_numpy_computes_them()
    {
        using var dir = Paths.NewTempDir();
        var samples = Samples(12);
        var manifest = MakeDataset(dir.Path, samples);
        var loader = SampleLoader.Open(manifest, new LoaderOptions { BatchSize = 4, Split = null, Seed = 7, FlipProbability = 0.5, DropLast = true });
        var batches = loader.Epoch(0).ToList();
        Assert.Equal(3, batches.Count);
        Assert.Contains(batches, b => b.Flipped.Any(f => f));
        Assert.Contains(batches, b => b.Flipped.Any(f => !f));
        var byFrame = samples.ToDictionary(s => s.StartFrame);
        using var tmp = Paths.NewTempDir();
        for (var bi = 0; bi < batches.Count; bi++)
        {
            var batch = batches[bi];
            int h = batch.Height, w = batch.Width;
            Assert.Equal(batch.Size * 3 * h * w, batch.Images.Length);
            Assert.Equal(batch.Size * 16 * 4 * h * w, batch.Volumes.Length);
            var raw = batch.StartFrames.SelectMany(f => byFrame[f].SpectralVolume).ToArray();
            var rgb = batch.StartFrames.SelectMany(f => byFrame[f].Image).ToArray();
            var stem = Path.Combine(tmp.Path, $"b{bi}");
            File.WriteAllBytes(stem + ".raw", MemoryMarshal.AsBytes(raw.AsSpan()).ToArray());
            File.WriteAllBytes(stem + ".rgb", rgb);
            File.WriteAllBytes(stem + ".scales", MemoryMarshal.AsBytes(Scales.AsSpan()).ToArray());
            File.WriteAllBytes(stem + ".flip", batch.Flipped.Select(f => (byte)(f ? 1 : 0)).ToArray());
            const string script = """
                import sys, numpy as np
                stem, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
                flip = np.fromfile(stem + '.flip', dtype=np.uint8).astype(bool)
                b = flip.size
                vol = np.fromfile(stem + '.raw', dtype='<f2').astype(np.float32).reshape(b, 16, 4, h, w)
                img = np.fromfile(stem + '.rgb', dtype=np.uint8).reshape(b, h, w, 3).transpose(0, 3, 1, 2).astype(np.float32)
                s = np.fromfile(stem + '.scales', dtype='<f4').reshape(1, 16, 1, 1, 1)
                vol[flip] = vol[flip][..., ::-1]
                vol[flip, :, 0:2] *= -1
                img[flip] = img[flip][..., ::-1]
                norm = np.sign(vol) * np.sqrt(np.abs(vol) / s)
                norm.astype('<f4').tofile(stem + '.vol_expected')
                (img / 127.5 - 1).astype('<f4').tofile(stem + '.img_expected')
                """;
            Programs.RunPython(script, [stem, h.ToString(), w.ToString()]);
            var expectedVolume = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(stem + ".vol_expected")).ToArray();
            var expectedImage = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(stem + ".img_expected")).ToArray();
            for (var i = 0; i < expectedVolume.Length; i++)
                Assert.True(Math.Abs(expectedVolume[i] - batch.Volumes[i]) <= 1e-6f * Math.Max(1, Math.Abs(expectedVolume[i])), $"batch {bi} volume [{i}]");
            for (var i = 0; i < expectedImage.Length; i++)
                Assert.True(Math.Abs(expectedImage[i] - batch.Images[i]) <= 1e-6f, $"batch {bi} image [{i}]");
        }
    }

    [Fact]
    public void Resized_batches_match_numpy_and_the_cache_reads_the_shards_once()
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(5, 10, width: 10, height: 7, targets: 3).Select((s, i) => s with { StartFrame = i * 10 }).ToList();
        var manifest = MakeDataset(dir.Path, samples);
        // 10x7 → 4x3: windows of uneven width that overlap, as adaptive_avg_pool2d takes them.
        LoaderOptions Options(long cache) => new()
        {
            BatchSize = 2,
            Split = null,
            Seed = 9,
            FlipProbability = 0.5,
            FrameSize = [4, 3],
            TargetFrames = true,
            CacheBytes = cache,
        };
        var uncached = SampleLoader.Open(manifest, Options(0));
        var cached = SampleLoader.Open(manifest, Options(1 << 20));
        var epochs = Enumerable.Range(0, 3).Select(e => (Plain: uncached.Epoch(e).ToList(), Cached: cached.Epoch(e).ToList())).ToList();
        foreach (var (plain, fromCache) in epochs)
        {
            Assert.Equal(plain.Count, fromCache.Count);
            for (var b = 0; b < plain.Count; b++)
            {
                Assert.Equal(plain[b].StartFrames, fromCache[b].StartFrames);
                Assert.Equal(plain[b].Flipped, fromCache[b].Flipped);
                Assert.Equal(plain[b].TargetOffsets, fromCache[b].TargetOffsets);
                Assert.Equal(plain[b].Volumes, fromCache[b].Volumes);
                Assert.Equal(plain[b].Images, fromCache[b].Images);
                Assert.Equal(plain[b].Targets, fromCache[b].Targets);
            }
        }
        // Every sample is in memory now: with the shards gone, the cached loader still serves an epoch.
        foreach (var shard in ManifestFile.Read(manifest).Shards)
            File.Delete(ManifestFile.ShardPath(manifest, shard));
        Assert.Equal(epochs[0].Cached.Sum(b => b.Size), cached.Epoch(3).Sum(b => b.Size));
        Assert.ThrowsAny<Exception>(() => uncached.Epoch(3).ToList());

        // numpy's area resize of the raw volume, displacements scaled to the new pixels, then normalized and mirrored.
        var byFrame = samples.ToDictionary(s => s.StartFrame);
        var batch = epochs[1].Plain.First(b => b.Flipped.Any(f => f));
        using var tmp = Paths.NewTempDir();
        var stem = Path.Combine(tmp.Path, "b");
        File.WriteAllBytes(stem + ".raw", MemoryMarshal.AsBytes(batch.StartFrames.SelectMany(f => byFrame[f].SpectralVolume).ToArray().AsSpan()).ToArray());
        File.WriteAllBytes(stem + ".rgb", batch.StartFrames.SelectMany(f => byFrame[f].Image).ToArray());
        File.WriteAllBytes(stem + ".scales", MemoryMarshal.AsBytes(Scales.AsSpan()).ToArray());
        File.WriteAllBytes(stem + ".flip", batch.Flipped.Select(f => (byte)(f ? 1 : 0)).ToArray());
        const string script = """
            import sys, numpy as np
            stem = sys.argv[1]
            H, W, h, w = 7, 10, 3, 4
            flip = np.fromfile(stem + '.flip', dtype=np.uint8).astype(bool)
            b = flip.size
            def area(a):
                out = np.zeros(a.shape[:-2] + (h, w), dtype=np.float64)
                for i in range(h):
                    y0, y1 = (i * H) // h, -(-((i + 1) * H) // h)
                    for j in range(w):
                        x0, x1 = (j * W) // w, -(-((j + 1) * W) // w)
                        out[..., i, j] = a[..., y0:y1, x0:x1].astype(np.float64).mean(axis=(-2, -1))
                return out.astype(np.float32)
            vol = area(np.fromfile(stem + '.raw', dtype='<f2').astype(np.float32).reshape(b, 16, 4, H, W))
            vol[:, :, 0:2] *= w / W
            vol[:, :, 2:4] *= h / H
            img = area(np.fromfile(stem + '.rgb', dtype=np.uint8).reshape(b, H, W, 3).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1)
            vol[flip] = vol[flip][..., ::-1]
            vol[flip, :, 0:2] *= -1
            img[flip] = img[flip][..., ::-1]
            s = np.fromfile(stem + '.scales', dtype='<f4').reshape(1, 16, 1, 1, 1)
            (np.sign(vol) * np.sqrt(np.abs(vol) / s)).astype('<f4').tofile(stem + '.vol_expected')
            img.astype('<f4').tofile(stem + '.img_expected')
            """;
        Programs.RunPython(script, [stem]);
        var expectedVolume = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(stem + ".vol_expected")).ToArray();
        var expectedImage = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(stem + ".img_expected")).ToArray();
        Assert.Equal(batch.Size * 16 * 4 * 3 * 4, batch.Volumes.Length);
        for (var i = 0; i < expectedVolume.Length; i++)
            Assert.True(Math.Abs(expectedVolume[i] - batch.Volumes[i]) <= 1e-5f * Math.Max(1, Math.Abs(expectedVolume[i])), $"volume [{i}]: {batch.Volumes[i]} vs numpy {expectedVolume[i]}");
        for (var i = 0; i < expectedImage.Length; i++)
            Assert.True(Math.Abs(expectedImage[i] - batch.Images[i]) <= 1e-5f, $"image [{i}]: {batch.Images[i]} vs numpy {expectedImage[i]}");
    }

    [Fact]
    public void Stopping_early_ends_the_prefetch_thread_and_errors_surface()
    {
        using var dir = Paths.NewTempDir();
        var samples = Samples(40);
        var manifest = MakeDataset(dir.Path, samples);
        var loader = SampleLoader.Open(manifest, new LoaderOptions { BatchSize = 2, Split = null, PrefetchBatches = 1 });
        var first = loader.Epoch(0).First(); // disposing the enumeration must not hang on the full queue
        Assert.Equal(2, first.Size);

        // Without scales, normalization cannot happen: say so.
        var noScales = MakeDataset(Path.Combine(dir.Path, "raw"), samples.Take(4).ToList(), withScales: false);
        Assert.Contains("normalization", Assert.Throws<ManifestException>(() => SampleLoader.Open(noScales)).Message);

        // A shard damaged after the manifest was written: the loader checks every shard's sha256 before using its rows and names it.
        var m = ManifestFile.Read(manifest);
        var shard = ManifestFile.ShardPath(manifest, m.Shards[0]);
        var bytes = File.ReadAllBytes(shard);
        bytes.AsSpan(4, 200).Fill(0xFF);
        File.WriteAllBytes(shard, bytes);
        Assert.Contains(m.Shards[0].Path, Assert.Throws<ManifestException>(() => SampleLoader.Open(manifest)).Message);
        // Outside the manifest the damaged file is a ParquetFormatException naming it.
        Assert.Contains(shard, Assert.Throws<ParquetFormatException>(() => ShardReader.Open(shard).ReadAll().ToList()).Message);

        // A shard changed after the loader opened is checked again before its rows are used.
        var fresh = MakeDataset(Path.Combine(dir.Path, "later"), samples.Take(8).ToList());
        var loaded = SampleLoader.Open(fresh, new LoaderOptions { Split = null, BatchSize = 2, Shuffle = false });
        var later = ManifestFile.ShardPath(fresh, ManifestFile.Read(fresh).Shards[0]);
        var laterBytes = File.ReadAllBytes(later);
        laterBytes[laterBytes.Length / 2] ^= 1;
        File.WriteAllBytes(later, laterBytes);
        File.SetLastWriteTimeUtc(later, DateTime.UtcNow.AddMinutes(1));
        Assert.Contains("sha256", Assert.Throws<ManifestException>(() => loaded.Epoch(0).ToList()).Message);
    }
}
