using System.Text.Json.Nodes;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;

namespace GidCluster.Parquet.Tests;

public class ManifestTests
{
    private static float[] Scales => Enumerable.Range(0, 16).Select(k => 1f / (k + 1)).ToArray();

    [Fact]
    public void Shard_set_rolls_at_the_size_limit_and_the_manifest_round_trips_and_verifies()
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(seed: 21, count: 30);
        IReadOnlyList<ShardInfo> shards;
        using (var set = new ShardSetWriter(dir.Path, new ShardWriterOptions { MaxShardBytes = 60_000, RowGroupBytes = 20_000 }))
        {
            foreach (var s in samples)
                set.Write(s);
            shards = set.Complete();
        }
        Assert.True(shards.Count >= 3, $"{shards.Count} shards");
        Assert.Equal(samples.Count, shards.Sum(s => s.Rows));
        Assert.All(shards, s => Assert.False(Path.IsPathRooted(s.Path)));
        // Shards stay near the limit (one row group of slack).
        Assert.All(shards, s => Assert.True(s.Bytes < 60_000 + 30_000, $"{s.Path} is {s.Bytes} bytes"));
        // The hash computed while writing is the file's hash.
        foreach (var s in shards)
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(dir.Path, s.Path)))), s.Sha256);

        var config = new JsonObject { ["flow"] = "dis:medium", ["fps"] = 30 };
        var manifest = DatasetManifest.Create(shards, samples.Select(s => s.VideoId),
            new NormalizationInfo(Scales, 95, new JsonObject { ["kind"] = "log-histogram", ["bins"] = 4096 }), config);
        var path = ManifestFile.Write(dir.Path, manifest);
        var text = File.ReadAllText(path);
        Assert.Contains("\"schema_version\": 1", text);
        Assert.Contains("\"sha256\"", text);
        Assert.Contains("\"test_fraction\": 0.1", text);

        var back = ManifestFile.Read(dir.Path);
        Assert.Equal(manifest.Shards, back.Shards);
        Assert.Equal(Scales, back.Normalization!.Scales);
        Assert.Equal(95, back.Normalization.Percentile);
        Assert.Equal("dis:medium", (string)back.Config!["flow"]!);
        Assert.Equal(manifest.Split.TestVideos, back.Split.TestVideos);
        ManifestFile.Verify(path, back);

        // Samples come back in order across the shards.
        var read = back.Shards.SelectMany(s =>
        {
            using var r = ShardReader.Open(ManifestFile.ShardPath(path, s));
            return r.ReadAll().ToList();
        }).ToList();
        for (var i = 0; i < samples.Count; i++)
            SampleFactory.AssertEqual(samples[i], read[i]);

        // A flipped byte in a shard is caught by the checksum, naming the shard.
        var victim = Path.Combine(dir.Path, shards[1].Path);
        var bytes = File.ReadAllBytes(victim);
        bytes[bytes.Length / 2] ^= 1;
        File.WriteAllBytes(victim, bytes);
        var e = Assert.Throws<ManifestException>(() => ManifestFile.Verify(path, back));
        Assert.Contains(shards[1].Path, e.Message);
        Assert.Contains("sha256", e.Message);
        File.Delete(victim);
        Assert.Contains("missing", Assert.Throws<ManifestException>(() => ManifestFile.Verify(path, back)).Message);
    }

    [Fact]
    public void An_abandoned_shard_is_removed_and_bad_samples_are_refused_by_name()
    {
        using var dir = Paths.NewTempDir();
        var file = Path.Combine(dir.Path, "partial.parquet");
        var sample = SampleFactory.Many(seed: 2, count: 1)[0];
        using (var w = new ShardWriter(file))
        {
            w.Write(sample);
            var bad = sample with { Image = new byte[5] };
            var e = Assert.Throws<ArgumentException>(() => w.Write(bad));
            Assert.Contains(sample.VideoId, e.Message);
            Assert.Contains("image", e.Message);
            Assert.Contains("split", Assert.Throws<ArgumentException>(() => w.Write(sample with { Split = "validation" })).Message);
        }
        Assert.False(File.Exists(file));
    }

    [Theory]
    [InlineData("{", "not a valid manifest")]
    [InlineData("""{"schema_version": 99, "created_utc": "2026-01-01T00:00:00Z", "shards": [], "split": {"method": "x", "test_fraction": 0.1, "train_videos": [], "test_videos": []}, "normalization": null, "config": null}""", "schema_version 99")]
    [InlineData("""{"schema_version": 1, "created_utc": "2026-01-01T00:00:00Z", "shards": [{"path": "../x.parquet", "rows": 1, "bytes": 1, "sha256": "00"}], "split": {"method": "x", "test_fraction": 0.1, "train_videos": [], "test_videos": []}, "normalization": null, "config": null}""", "relative")]
    [InlineData("""{"schema_version": 1, "created_utc": "2026-01-01T00:00:00Z", "shards": [{"path": "x.parquet", "rows": 1, "bytes": 1, "sha256": "zz"}], "split": {"method": "x", "test_fraction": 0.1, "train_videos": [], "test_videos": []}, "normalization": null, "config": null}""", "sha256")]
    [InlineData("""{"schema_version": 1, "created_utc": "2026-01-01T00:00:00Z", "shards": [], "split": {"method": "x", "test_fraction": 0.1, "train_videos": [], "test_videos": []}, "normalization": {"scales": [1, 2], "percentile": 95, "sketch": null}, "config": null}""", "16 scales")]
    [InlineData("""{"schema_version": 1, "created_utc": "2026-01-01T00:00:00Z", "split": {"method": "x", "test_fraction": 0.1, "train_videos": [], "test_videos": []}, "normalization": null, "config": null}""", "shards")]
    public void Bad_manifests_get_clear_errors(string json, string expected)
    {
        using var dir = Paths.NewTempDir();
        var path = Path.Combine(dir.Path, "manifest.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<ManifestException>(() => ManifestFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Split_is_by_video_deterministic_about_ten_percent_and_matches_python()
    {
        var ids = Enumerable.Range(0, 2000).Select(i => $"vid_{i:D5}.mp4").ToList();
        var ours = ids.Select(id => DatasetSplit.Assign(id)).ToList();
        var testShare = ours.Count(s => s == "test") / (double)ids.Count;
        Assert.InRange(testShare, 0.08, 0.12);
        var script = """
            import sys, hashlib
            for line in sys.stdin.read().split('\n'):
                if not line: continue
                u = int.from_bytes(hashlib.sha256(line.encode('utf-8')).digest()[:8], 'big')
                print('test' if u / 2**64 < 0.1 else 'train')
            """;
        var result = Programs.Run(Programs.Python, ["-c", script], stdin: string.Join('\n', ids) + "\n");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(ours, result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList());
    }
}
