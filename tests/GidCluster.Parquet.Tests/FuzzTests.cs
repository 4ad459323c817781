using System.Buffers.Binary;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;
using Parquet;
using Parquet.Schema;

namespace GidCluster.Parquet.Tests;

/// <summary>
/// Mutated shards (truncation, flipped bytes, bad offsets, huge lengths) must give either the right data or a
/// <see cref="ParquetFormatException"/>: no other exception, no hang, no unbounded allocation.
/// </summary>
public class FuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int MutationsPerFile = 400;
    private static readonly TimeSpan PerRead = TimeSpan.FromSeconds(10);

    /// <summary>Allocation allowed per read: the reader's fixed limits plus a multiple of the file size (metadata objects).</summary>
    private static long AllocationBound(long fileSize) => (160L << 20) + 200 * fileSize;

    // Parquet.Net writes only v1 data pages, so the former "ours-v2-pages" corpus has no counterpart; DuckDB's V2 file keeps the v2 encodings covered.
    public static TheoryData<string> Corpus => new() { "ours-snappy", "ours-plain", "duckdb-snappy", "duckdb-v2-encodings" };

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task Mutated_shards_fail_cleanly(string corpus)
    {
        using var dir = Paths.NewTempDir();
        var original = Path.Combine(dir.Path, "original.parquet");
        MakeCorpusFile(corpus, original);
        var bytes = File.ReadAllBytes(original);
        Assert.True(Read(original).Ok, "the unmutated file must read");

        var chunkStarts = ChunkRanges(original).Select(c => c.Start).ToList();
        var rng = new Random(corpus.GetHashCode(StringComparison.Ordinal) ^ 1234);
        var outcomes = new Dictionary<string, int>();
        var mutated = Path.Combine(dir.Path, "mutated.parquet");
        for (var i = 0; i < MutationsPerFile; i++)
        {
            var (name, data) = Mutate(bytes, chunkStarts, rng);
            File.WriteAllBytes(mutated, data);
            Outcome result;
            try
            {
                result = await Task.Run(() => Read(mutated)).WaitAsync(PerRead);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"mutation {i} ({name}) did not finish within {PerRead}");
                throw;
            }
            Assert.True(result.Error is null or ParquetFormatException,
                $"mutation {i} ({name}) threw {result.Error?.GetType().Name}: {result.Error}");
            if (result.Error is ParquetFormatException pe)
            {
                Assert.Equal(mutated, pe.File);
                Assert.Contains(mutated, pe.Message);
            }
            Assert.True(result.Allocated < AllocationBound(data.Length),
                $"mutation {i} ({name}) allocated {result.Allocated:N0} bytes for a {data.Length}-byte file");
            var key = $"{name}:{(result.Ok ? "ok" : "error")}";
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
        }
        output.WriteLine(string.Join(", ", outcomes.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}")));
        // Most mutations of metadata must be caught; a file that always "reads" would mean the reader checks nothing.
        Assert.True(outcomes.Where(kv => kv.Key.EndsWith(":error", StringComparison.Ordinal)).Sum(kv => kv.Value) > MutationsPerFile / 4,
            string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    [Fact]
    public void Not_parquet_and_empty_files_name_the_file()
    {
        using var dir = Paths.NewTempDir();
        var empty = Path.Combine(dir.Path, "empty.parquet");
        File.WriteAllBytes(empty, []);
        var text = Path.Combine(dir.Path, "text.parquet");
        File.WriteAllText(text, "this is not a parquet file, just some text that is long enough");
        var e1 = Assert.Throws<ParquetFormatException>(() => ShardReader.Open(empty));
        Assert.Contains("empty.parquet", e1.Message);
        Assert.Contains("too short", e1.Message);
        var e2 = Assert.Throws<ParquetFormatException>(() => ShardReader.Open(text));
        Assert.Contains("PAR1", e2.Message);
        Assert.Throws<FileNotFoundException>(() => ShardReader.Open(Path.Combine(dir.Path, "missing.parquet")));
    }

    [Fact]
    public async Task A_file_without_sample_columns_is_refused_by_name()
    {
        using var dir = Paths.NewTempDir();
        var file = Path.Combine(dir.Path, "other.parquet");
        var x = new DataField<int>("x");
        await using (var stream = File.Create(file))
        {
            await using var w = await ParquetWriter.CreateAsync(new ParquetSchema(x), stream);
            using var g = w.CreateRowGroup();
            await g.WriteAsync<int>(x, new[] { 1, 2, 3 }, null, null, default);
        }
        var e = Assert.Throws<ParquetFormatException>(() => ShardReader.Open(file));
        Assert.Contains("video_id", e.Message);
    }

    private static void MakeCorpusFile(string corpus, string path)
    {
        var samples = SampleFactory.Many(seed: 3, count: 6, width: 6, height: 4);
        if (corpus.StartsWith("ours", StringComparison.Ordinal))
        {
            var codec = corpus == "ours-plain" ? CompressionMethod.None : CompressionMethod.Snappy;
            using var w = new ShardWriter(path, new ShardWriterOptions { Codec = codec, RowGroupBytes = 10_000 });
            foreach (var s in samples)
                w.Write(s);
            w.Close();
            return;
        }
        var source = path + ".src.parquet";
        using (var w = new ShardWriter(source))
        {
            foreach (var s in samples)
                w.Write(s);
            w.Close();
        }
        var parquetVersion = corpus == "duckdb-v2-encodings" ? "V2" : "V1";
        DuckDb.Run($"copy (select * from read_parquet({DuckDb.Quote(source)})) to {DuckDb.Quote(path)} (FORMAT PARQUET, COMPRESSION snappy, PARQUET_VERSION {parquetVersion})");
    }

    private sealed record Outcome(bool Ok, Exception? Error, long Allocated);

    private static Outcome Read(string path)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            using (var shard = ShardReader.Open(path))
            {
                foreach (var _ in shard.ReadAll())
                {
                }
            }
            return new Outcome(true, null, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        catch (Exception e)
        {
            return new Outcome(false, e, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    /// <summary>(start, length) of each column chunk, optionally only the named columns, read through Parquet.Net.</summary>
    internal static List<(long Start, long Length)> ChunkRanges(string path, params string[] columns)
    {
        using var file = ParquetFile.Open(path);
        var fields = file.Reader.Schema.DataFields;
        var result = new List<(long, long)>();
        foreach (var group in file.Reader.Metadata!.RowGroups)
        {
            for (var c = 0; c < fields.Length; c++)
            {
                if (columns.Length > 0 && !columns.Contains(fields[c].Path.FirstPart))
                    continue;
                var m = group.Columns[c].MetaData!;
                result.Add((m.DictionaryPageOffset is > 0 ? m.DictionaryPageOffset.Value : m.DataPageOffset, m.TotalCompressedSize));
            }
        }
        return result;
    }

    private static (string Name, byte[] Data) Mutate(byte[] original, List<long> chunkStarts, Random rng)
    {
        var data = (byte[])original.Clone();
        var footerLength = BinaryPrimitives.ReadInt32LittleEndian(original.AsSpan(original.Length - 8));
        var footerStart = original.Length - 8 - footerLength;
        int InFooter() => footerStart + rng.Next(footerLength);
        switch (rng.Next(7))
        {
            case 0:
                return ("truncate", data[..rng.Next(data.Length)]);
            case 1:
                for (var k = rng.Next(1, 5); k > 0; k--)
                    data[rng.Next(data.Length)] ^= (byte)(1 << rng.Next(8));
                return ("flip-anywhere", data);
            case 2:
                for (var k = rng.Next(1, 4); k > 0; k--)
                    data[InFooter()] ^= (byte)rng.Next(1, 256);
                return ("flip-footer", data);
            case 3:
                {
                    // A bad offset: overwrite a few footer bytes with a large varint, as if an offset or size field went wrong.
                    var at = InFooter();
                    var big = new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x7F };
                    for (var k = 0; k < big.Length && at + k < footerStart + footerLength; k++)
                        data[at + k] = big[k];
                    return ("huge-varint-footer", data);
                }
            case 4:
                {
                    var length = rng.Next(3) switch { 0 => int.MaxValue, 1 => -1, _ => rng.Next(data.Length, data.Length * 2) };
                    BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(data.Length - 8), length);
                    return ("footer-length", data);
                }
            case 5:
                {
                    // A page header (sizes, value counts) or the first value length: stamp huge numbers just after a chunk start.
                    var at = (int)chunkStarts[rng.Next(chunkStarts.Count)] + rng.Next(24);
                    if (rng.Next(2) == 0)
                        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), rng.Next(2) == 0 ? int.MaxValue : 0x10000000);
                    else
                        data.AsSpan(at, 5).Fill(0xFF);
                    return ("huge-length-page", data);
                }
            default:
                {
                    // Zero a run of footer bytes (drops fields, empties lists).
                    var at = InFooter();
                    var n = Math.Min(rng.Next(1, 16), footerStart + footerLength - at);
                    data.AsSpan(at, n).Clear();
                    return ("zero-footer", data);
                }
        }
    }
}

/// <summary>
/// Parquet.Net writes no page CRCs, so integrity rests on the manifest: a byte flipped inside a data page must be
/// refused by the shard's SHA-256 before any of its rows is used, by the loader and by <c>gid inspect --verify</c>.
/// </summary>
public class DataPageIntegrityTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Flips = 400;

    [Fact]
    public void Flips_inside_data_pages_are_refused_by_the_manifest_sha256_before_use()
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(seed: 3, count: 6, width: 6, height: 4);
        IReadOnlyList<ShardInfo> shards;
        using (var set = new ShardSetWriter(dir.Path, new ShardWriterOptions { Codec = CompressionMethod.None, RowGroupBytes = 10_000 }))
        {
            foreach (var s in samples)
                set.Write(s);
            shards = set.Complete();
        }
        var manifest = ManifestFile.Write(dir.Path, DatasetManifest.Create(shards, samples.Select(s => s.VideoId), null));
        var shardPath = Path.Combine(dir.Path, shards[0].Path);
        var original = File.ReadAllBytes(shardPath);
        // Data pages: the image, spectral_volume and target_frames chunks (raw bytes, so a flip stays structurally valid).
        var ranges = FuzzTests.ChunkRanges(shardPath, SampleColumns.Image, SampleColumns.SpectralVolume, SampleColumns.TargetFrames);
        var rng = new Random(400);
        int silentlyWrong = 0, parquetErrors = 0;
        for (var i = 0; i < Flips; i++)
        {
            var data = (byte[])original.Clone();
            var (start, length) = ranges[rng.Next(ranges.Count)];
            data[start + 24 + rng.Next((int)length - 24)] ^= (byte)(1 << rng.Next(8)); // past the page header
            File.WriteAllBytes(shardPath, data);

            var e = Assert.Throws<ManifestException>(() => SampleLoader.Open(manifest, new LoaderOptions { Split = null, Normalize = false }));
            Assert.Contains(shards[0].Path, e.Message);
            Assert.Contains("sha256", e.Message);
            Assert.Throws<ManifestException>(() => ShardInspector.Describe(manifest, verify: true));

            // Outside a manifest the file reads (possibly wrong: no page CRCs) or fails as a ParquetFormatException.
            try
            {
                using var reader = ShardReader.Open(shardPath);
                var back = reader.ReadAll().ToList();
                if (!back.Zip(samples).All(p => p.First.Image.AsSpan().SequenceEqual(p.Second.Image)
                        && p.First.SpectralVolume.AsSpan().SequenceEqual(p.Second.SpectralVolume)
                        && p.First.TargetFrames.AsSpan().SequenceEqual(p.Second.TargetFrames)))
                    silentlyWrong++;
            }
            catch (ParquetFormatException)
            {
                parquetErrors++;
            }
        }
        output.WriteLine($"{Flips} flips in data pages: all refused by sha256; read outside a manifest, {silentlyWrong} came back wrong without an error, {parquetErrors} failed to parse");
        Assert.True(silentlyWrong > 0, "flips inside raw data pages should be invisible to Parquet.Net (this is why the sha256 check exists)");
        File.WriteAllBytes(shardPath, original);
        Assert.Equal(samples.Count, SampleLoader.Open(manifest, new LoaderOptions { Split = null, Normalize = false, BatchSize = 1, DropLast = false }).Epoch(0).Count());
    }
}
