using System.Runtime.InteropServices;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;
using Parquet;

namespace GidCluster.Parquet.Tests;

/// <summary>
/// ShardReader reads each sample's big values when the sample is reached (so a caller returning each to a pool
/// reuses the same arrays), and several threads may read row groups of one reader at once.
/// </summary>
public class StreamingReadTests
{
    [Fact]
    public void Returning_each_sample_before_the_next_reuses_one_set_of_arrays_across_rows_and_row_groups()
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(seed: 41, count: 12, width: 16, height: 10);
        var file = DirectReadTests.Write(dir.Path, samples, CompressionMethod.None);
        using var reader = ShardReader.Open(file);
        Assert.True(reader.RowGroupCount > 2 && reader.RowGroupRows(0) > 1, "the test wants several rows in each of several row groups");
        var pool = new BlobPool(1 << 20);
        var arrays = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var i = 0;
        foreach (var s in reader.ReadAll(pool))
        {
            SampleFactory.AssertEqual(samples[i++], s);
            arrays.Add(s.Image);
            arrays.Add(s.SpectralVolume);
            arrays.Add(s.TargetFrames);
            pool.Return(s);
        }
        Assert.Equal(samples.Count, i);
        // Read a row group at a time, a group's samples would all be alive at once: as many arrays as its rows.
        Assert.Equal(3, arrays.Count);
    }

    [Theory]
    [InlineData(CompressionMethod.None)]
    [InlineData(CompressionMethod.Snappy)]
    public void Row_groups_read_on_several_threads_at_once_are_the_samples_written(CompressionMethod codec)
    {
        using var dir = Paths.NewTempDir();
        // Long source URIs make Parquet.Net's reads of the small columns long enough for unserialized threads to
        // collide on its stream (without the lock, most runs of 20 passes failed; this takes 30).
        var samples = SampleFactory.Many(seed: 42, count: 40, width: 16, height: 10, targets: 3)
            .Select((s, i) => s with { SourceUri = $"file:///{new string((char)('a' + i % 26), 30_000)}.mp4" }).ToList();
        var file = DirectReadTests.Write(dir.Path, samples, codec);
        using var reader = ShardReader.Open(file);
        Assert.True(reader.RowGroupCount >= 8, "the test wants many row groups");
        var first = new int[reader.RowGroupCount];
        for (var g = 1; g < first.Length; g++)
            first[g] = first[g - 1] + (int)reader.RowGroupRows(g - 1);
        var pool = new BlobPool(1 << 20);
        var wrong = new List<string>();
        for (var pass = 0; pass < 30; pass++)
        {
            // Each thread checks a sample against what was written before handing its arrays back to the shared pool.
            Parallel.For(0, reader.RowGroupCount, new ParallelOptions { MaxDegreeOfParallelism = 4 }, g =>
            {
                var row = first[g];
                foreach (var s in reader.ReadRows(g, pool))
                {
                    if (!Same(samples[row], s))
                    {
                        lock (wrong)
                            wrong.Add($"pass {pass}, row group {g}, row {row}");
                    }
                    row++;
                    pool.Return(s);
                }
                if (row != first[g] + reader.RowGroupRows(g))
                {
                    lock (wrong)
                        wrong.Add($"pass {pass}, row group {g}: {row - first[g]} rows");
                }
            });
        }
        Assert.Empty(wrong);
    }

    private static bool Same(Sample a, Sample b) =>
        a.VideoId == b.VideoId && a.StartFrame == b.StartFrame && a.SourceUri == b.SourceUri && a.Split == b.Split && a.Image.AsSpan().SequenceEqual(b.Image)
        && MemoryMarshal.AsBytes(a.SpectralVolume.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.SpectralVolume.AsSpan()))
        && a.TargetFrames.AsSpan().SequenceEqual(b.TargetFrames) && a.TargetOffsets.AsSpan().SequenceEqual(b.TargetOffsets);
}
