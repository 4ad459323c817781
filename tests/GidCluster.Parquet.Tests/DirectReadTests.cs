using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;
using Parquet;

namespace GidCluster.Parquet.Tests;

/// <summary>
/// The big binary columns our writer leaves uncompressed are read straight from the file (DirectBlobColumn), the
/// Snappy ones through Parquet.Net: both checked against DuckDB's digest of every value, and with a BlobPool.
/// </summary>
public class DirectReadTests
{
    /// <summary>A shard of <paramref name="samples"/> with small row groups (several per test), the big columns written with <paramref name="codec"/>.</summary>
    internal static string Write(string dir, IReadOnlyList<Sample> samples, CompressionMethod codec)
    {
        var file = Path.Combine(dir, $"shard-{codec}.parquet");
        using var writer = new ShardWriter(file, new ShardWriterOptions { Codec = codec, RowGroupBytes = 40_000 });
        foreach (var s in samples)
            writer.Write(s);
        writer.Close();
        return file;
    }

    [Theory]
    [InlineData(CompressionMethod.None)] // every blob column read directly
    [InlineData(CompressionMethod.Snappy)] // only the volume read directly
    public void Every_blob_matches_DuckDBs_md5_with_and_without_a_pool(CompressionMethod codec)
    {
        using var dir = Paths.NewTempDir();
        var file = Write(dir.Path, SampleFactory.Many(seed: 21, count: 19, width: 16, height: 10, targets: 3), codec);
        var duck = DuckDb.Run($"""
            select md5(image) as image, md5(spectral_volume) as volume, md5(target_frames) as targets
            from read_parquet({DuckDb.Quote(file)}, file_row_number = true) order by file_row_number
            """);
        var pool = new BlobPool(1 << 20);
        for (var pass = 0; pass < 3; pass++)
        {
            using var reader = ShardReader.Open(file);
            Assert.True(reader.RowGroupCount > 1, "the test wants several row groups");
            var i = 0;
            foreach (var s in reader.ReadAll(pass == 0 ? null : pool))
            {
                var r = duck[i++]!;
                Assert.Equal((string)r["image"]!, Md5(s.Image));
                Assert.Equal((string)r["volume"]!, Md5(MemoryMarshal.AsBytes(s.SpectralVolume.AsSpan())));
                Assert.Equal((string)r["targets"]!, Md5(s.TargetFrames));
                if (pass > 0)
                    pool.Return(s);
            }
            Assert.Equal(duck.Count, i);
            Assert.InRange(pool.HeldBytes, 0, 1 << 20);
        }
    }

    [Fact]
    public void A_pool_hands_back_returned_arrays_of_the_lengths_it_was_asked_for_and_keeps_within_its_capacity()
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(seed: 22, count: 6, width: 16, height: 10);
        var file = Write(dir.Path, samples, CompressionMethod.None);
        var pool = new BlobPool(1 << 20);
        using var reader = ShardReader.Open(file);
        var first = reader.ReadRowGroup(0, pool);
        var volumes = first.Select(s => s.SpectralVolume).ToHashSet(ReferenceEqualityComparer.Instance);
        foreach (var s in first)
            pool.Return(s);
        var again = reader.ReadRowGroup(0, pool);
        Assert.All(again, s => Assert.Contains(s.SpectralVolume, volumes));
        for (var k = 0; k < first.Count; k++)
            SampleFactory.AssertEqual(samples[k], again[k]);

        // A length never rented is not kept, and the capacity holds.
        pool.Return(new byte[1000]);
        Assert.Equal(0, pool.HeldBytes);
        var small = new BlobPool(samples[0].Image.Length);
        using (var other = ShardReader.Open(file))
        {
            foreach (var s in other.ReadRowGroup(0, small))
                small.Return(s);
        }
        Assert.InRange(small.HeldBytes, 1, samples[0].Image.Length);
    }

    [Fact]
    public void A_value_length_past_its_page_is_a_format_error_naming_the_file()
    {
        using var dir = Paths.NewTempDir();
        var sample = SampleFactory.Make(new Random(23), 16, 10);
        var file = Write(dir.Path, [sample], CompressionMethod.Snappy);
        var bytes = File.ReadAllBytes(file);
        // The volume's PLAIN value: its 4-byte length, then its first bytes (uncompressed, so found as written).
        var volume = MemoryMarshal.AsBytes(sample.SpectralVolume.AsSpan()).ToArray();
        var prefix = new byte[4 + 16];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, volume.Length);
        volume.AsSpan(0, 16).CopyTo(prefix.AsSpan(4));
        var at = bytes.AsSpan().IndexOf(prefix);
        Assert.True(at > 0, "the volume value is in the file as written");
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), volume.Length + 2);
        File.WriteAllBytes(file, bytes);

        using var reader = ShardReader.Open(file);
        var e = Assert.Throws<ParquetFormatException>(() => reader.ReadRowGroup(0));
        Assert.Equal(file, e.File);
        Assert.Contains("spectral_volume", e.Message);
        Assert.Contains("does not fit", e.Message);
    }

    private static string Md5(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(MD5.HashData(bytes));
}
