using System.Runtime.InteropServices;
using System.Security.Cryptography;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;

namespace GidCluster.Parquet.Tests;

public class InspectAndFullSizeTests
{
    [Fact]
    public void Full_size_256x160_samples_round_trip_through_DuckDB_ours_and_the_loader()
    {
        using var dir = Paths.NewTempDir();
        var rng = new Random(99);
        var samples = Enumerable.Range(0, 3).Select(i => SampleFactory.Make(rng, 256, 160, targets: 4, videoId: $"full-{i}")).ToList();
        IReadOnlyList<ShardInfo> shards;
        using (var set = new ShardSetWriter(dir.Path))
        {
            foreach (var s in samples)
                set.Write(s);
            shards = set.Complete();
        }
        Assert.Single(shards);
        var file = Path.Combine(dir.Path, shards[0].Path);

        var rows = DuckDb.Run($"select video_id, width, height, md5(spectral_volume) as v, octet_length(spectral_volume)::INTEGER as n, md5(image) as i, len(target_offsets)::INTEGER as m from read_parquet({DuckDb.Quote(file)}, file_row_number = true) order by file_row_number");
        Assert.Equal(3, rows.Count);
        for (var k = 0; k < 3; k++)
        {
            Assert.Equal(samples[k].VideoId, (string)rows[k]!["video_id"]!);
            Assert.Equal(256, (int)rows[k]!["width"]!);
            Assert.Equal(160, (int)rows[k]!["height"]!);
            Assert.Equal(16 * 4 * 160 * 256 * 2, (int)rows[k]!["n"]!);
            Assert.Equal(Convert.ToHexStringLower(MD5.HashData(MemoryMarshal.AsBytes(samples[k].SpectralVolume.AsSpan()))), (string)rows[k]!["v"]!);
            Assert.Equal(Convert.ToHexStringLower(MD5.HashData(samples[k].Image)), (string)rows[k]!["i"]!);
            Assert.Equal(4, (int)rows[k]!["m"]!);
        }
        using (var reader = ShardReader.Open(file))
        {
            var back = reader.ReadAll().ToList();
            for (var k = 0; k < 3; k++)
                SampleFactory.AssertEqual(samples[k], back[k]);
        }

        var scales = Enumerable.Repeat(1f, 16).ToArray();
        var manifest = ManifestFile.Write(dir.Path, DatasetManifest.Create(shards, samples.Select(s => s.VideoId), new NormalizationInfo(scales, 95, null)));
        var loader = SampleLoader.Open(manifest, new LoaderOptions { Split = null, BatchSize = 2, FlipProbability = 0 });
        var batch = Assert.Single(loader.Epoch(0));
        Assert.Equal((2, 160, 256), (batch.Size, batch.Height, batch.Width));
        Assert.Equal(2 * 3 * 160 * 256, batch.Images.Length);
        Assert.Equal(2 * 16 * 4 * 160 * 256, batch.Volumes.Length);
        Assert.InRange(batch.Images.Min(), -1f, -0.99f);
        Assert.InRange(batch.Images.Max(), 0.99f, 1f);
    }

    [Fact]
    public void Inspect_describes_a_shard_and_a_manifest()
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(seed: 8, count: 7);
        IReadOnlyList<ShardInfo> shards;
        using (var set = new ShardSetWriter(dir.Path, new ShardWriterOptions { RowGroupBytes = 20_000 }))
        {
            foreach (var s in samples)
                set.Write(s);
            shards = set.Complete();
        }
        var shardText = ShardInspector.Describe(Path.Combine(dir.Path, shards[0].Path), row: 5);
        Assert.Contains("rows        7 in", shardText);
        Assert.Contains("video_id         required BYTE_ARRAY (STRING)", shardText);
        Assert.Contains("target_offsets   list<INT32>", shardText);
        Assert.Contains("SNAPPY", shardText);
        Assert.Contains($"video id       {samples[5].VideoId}", shardText);
        Assert.Contains($"start frame    {samples[5].StartFrame}", shardText);
        Assert.Contains("size           8x6", shardText);
        Assert.Contains("fp16 [16,4,6,8]", shardText);
        Assert.Contains("gid.sample_schema_version = 1", shardText);

        var manifest = ManifestFile.Write(dir.Path, DatasetManifest.Create(shards, samples.Select(s => s.VideoId), null));
        var manifestText = ShardInspector.Describe(manifest, verify: true);
        Assert.Contains("schema version  1", manifestText);
        Assert.Contains("7 rows", manifestText);
        Assert.Contains("verified", manifestText);
        Assert.Contains("normalization   (none)", manifestText);
        Assert.Equal(manifestText.Replace(manifest, ""), ShardInspector.Describe(dir.Path, verify: true).Replace(manifest, ""));
    }
}
