using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;
using Parquet;

namespace GidCluster.Parquet.Tests;

/// <summary>Our shards against DuckDB, the independent Parquet implementation, in both directions.</summary>
public class DuckDbInteropTests
{
    [Theory]
    [InlineData(CompressionMethod.Snappy)]
    [InlineData(CompressionMethod.None)]
    public void Our_shard_opens_in_DuckDB_with_the_same_rows_and_values(CompressionMethod codec)
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(seed: 7, count: 23);
        var file = Path.Combine(dir.Path, "shard.parquet");
        using (var writer = new ShardWriter(file, new ShardWriterOptions { Codec = codec, RowGroupBytes = 40_000 }))
        {
            foreach (var s in samples)
                writer.Write(s);
            writer.Close();
        }
        using (var ours = ShardReader.Open(file))
            Assert.True(ours.RowGroupCount > 1, "the test wants several row groups");

        var f = DuckDb.Quote(file);
        var count = DuckDb.Run($"select count(*)::INTEGER as n from read_parquet({f})");
        Assert.Equal(samples.Count, (int)count[0]!["n"]!);

        var rows = DuckDb.Run($"""
            select video_id, start_frame, fps::DOUBLE as fps, width, height, md5(image) as image, md5(spectral_volume) as volume,
                   octet_length(spectral_volume)::INTEGER as volume_bytes, md5(target_frames) as targets, target_offsets,
                   source_uri, flow_method, quality, split,
                   json_extract(quality, '$.mean_displacement')::DOUBLE as mean_displacement
            from read_parquet({f}, file_row_number = true) order by file_row_number
            """);
        Assert.Equal(samples.Count, rows.Count);
        for (var i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            var r = rows[i]!;
            Assert.Equal(s.VideoId, (string)r["video_id"]!);
            Assert.Equal(s.StartFrame, (int)r["start_frame"]!);
            Assert.Equal((double)s.Fps, (double)r["fps"]!, 9);
            Assert.Equal(s.Width, (int)r["width"]!);
            Assert.Equal(s.Height, (int)r["height"]!);
            Assert.Equal(Md5(s.Image), (string)r["image"]!);
            Assert.Equal(Md5(System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.SpectralVolume.AsSpan()).ToArray()), (string)r["volume"]!);
            Assert.Equal(s.SpectralVolume.Length * 2, (int)r["volume_bytes"]!);
            Assert.Equal(Md5(s.TargetFrames), (string)r["targets"]!);
            Assert.Equal(s.TargetOffsets, r["target_offsets"]!.AsArray().Select(x => (int)x!).ToArray());
            Assert.Equal(s.SourceUri, (string)r["source_uri"]!);
            Assert.Equal(s.FlowMethod, (string)r["flow_method"]!);
            Assert.Equal(ShardSchema.QualityToJson(s.Quality), (string)r["quality"]!);
            Assert.Equal(s.Quality.MeanDisplacement, (double)r["mean_displacement"]!, 12);
            Assert.Equal(s.Split, (string)r["split"]!);
        }

        // Each column's codec as DuckDB reads it: the volume column is written uncompressed (ShardWriterOptions.VolumeCodec), the rest with the codec asked for.
        var codecs = DuckDb.Run($"select distinct path_in_schema as col, compression from parquet_metadata({f})");
        Assert.Equal(13, codecs.Count);
        foreach (var c in codecs)
        {
            var expected = (string)c!["col"]! == "spectral_volume" || codec == CompressionMethod.None ? "UNCOMPRESSED" : "SNAPPY";
            Assert.Equal(expected, (string)c["compression"]!);
        }

        // DuckDB reads our column statistics: min/max of start_frame per row group.
        var stats = DuckDb.Run($"""
            select row_group_id::INTEGER as g, stats_min_value as stats_min, stats_max_value as stats_max, stats_null_count::INTEGER as nulls
            from parquet_metadata({f}) where path_in_schema = 'start_frame' order by row_group_id
            """);
        var groupRows = new List<int>();
        using (var ours = ShardReader.Open(file))
            for (var g = 0; g < ours.RowGroupCount; g++) groupRows.Add((int)ours.RowGroupRows(g));
        var at = 0;
        for (var g = 0; g < groupRows.Count; g++)
        {
            var frames = samples.Skip(at).Take(groupRows[g]).Select(s => s.StartFrame).ToList();
            at += groupRows[g];
            Assert.Equal(frames.Min().ToString(CultureInfo.InvariantCulture), (string)stats[g]!["stats_min"]!);
            Assert.Equal(frames.Max().ToString(CultureInfo.InvariantCulture), (string)stats[g]!["stats_max"]!);
            Assert.Equal(0, (int)stats[g]!["nulls"]!);
        }
    }

    [Theory]
    [InlineData("snappy", "V1")]
    [InlineData("uncompressed", "V1")]
    [InlineData("snappy", "V2")] // V2: DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, BYTE_STREAM_SPLIT, RLE_DICTIONARY
    public void DuckDB_written_shard_reads_back_in_ours(string compression, string version)
    {
        using var dir = Paths.NewTempDir();
        var samples = SampleFactory.Many(seed: 11, count: 17);
        var file = Path.Combine(dir.Path, "duck.parquet");
        var values = string.Join(",\n", samples.Select(s =>
            $"({DuckDb.Quote(s.VideoId)}, {s.StartFrame}, {s.Fps.ToString("R", CultureInfo.InvariantCulture)}::FLOAT, {s.Width}, {s.Height}, " +
            $"from_hex('{Convert.ToHexString(s.Image)}'), " +
            $"from_hex('{Convert.ToHexString(System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.SpectralVolume.AsSpan()))}'), " +
            $"from_hex('{Convert.ToHexString(s.TargetFrames)}'), [{string.Join(',', s.TargetOffsets)}], " +
            $"{DuckDb.Quote(s.SourceUri)}, {DuckDb.Quote(s.FlowMethod)}, {DuckDb.Quote(ShardSchema.QualityToJson(s.Quality))}, {DuckDb.Quote(s.Split)})"));
        DuckDb.Run(
            """
            create table samples (video_id VARCHAR, start_frame INTEGER, fps FLOAT, width INTEGER, height INTEGER,
              image BLOB, spectral_volume BLOB, target_frames BLOB, target_offsets INTEGER[], source_uri VARCHAR,
              flow_method VARCHAR, quality VARCHAR, split VARCHAR)
            """,
            $"insert into samples values {values}",
            $"copy (select * from samples) to {DuckDb.Quote(file)} (FORMAT PARQUET, COMPRESSION {compression}, PARQUET_VERSION {version})");

        using var reader = ShardReader.Open(file);
        Assert.Equal(samples.Count, reader.RowCount);
        var back = reader.ReadAll().ToList();
        Assert.Equal(samples.Count, back.Count);
        for (var i = 0; i < samples.Count; i++)
            SampleFactory.AssertEqual(samples[i], back[i]);

        // DuckDB dictionary-encodes the repetitive columns (width, height, flow_method): that path was exercised.
        var encodings = DuckDb.Run($"select distinct encodings from parquet_metadata({DuckDb.Quote(file)}) where path_in_schema = 'flow_method'");
        Assert.True(encodings.Any(e => ((string)e!["encodings"]!).Contains("DICTIONARY")), encodings.ToJsonString());
    }

    [Theory]
    [InlineData("V1")]
    [InlineData("V2")]
    public async Task DuckDB_nulls_lists_and_every_primitive_type_read_back_in_ours(string version)
    {
        using var dir = Paths.NewTempDir();
        var file = Path.Combine(dir.Path, "types.parquet");
        var encodings = new HashSet<string>();
        DuckDb.Run($"""
            copy (select i::INTEGER as i32, (i * 1000000007)::BIGINT as i64, (i / 7.0)::FLOAT as f32, (i / 3.0)::DOUBLE as f64,
                     (i % 3 = 0) as flag, case when i % 4 = 0 then null else 'text ' || i end as s,
                     case when i % 5 = 0 then null when i % 5 = 1 then []::INTEGER[] else [i, i + 1, i * 2]::INTEGER[] end as list,
                     case when i % 6 = 0 then null else i::INTEGER end as maybe
                  from range(5000) r(i))
            to {DuckDb.Quote(file)} (FORMAT PARQUET, COMPRESSION snappy, ROW_GROUP_SIZE 2048, PARQUET_VERSION {version})
            """);
        using var parquet = ParquetFile.Open(file);
        var reader = parquet.Reader;
        Assert.Equal(5000, reader.Metadata!.NumRows);
        Assert.True(reader.RowGroupCount >= 2, $"{reader.RowGroupCount} row groups");
        var rowIndex = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            var group = reader.OpenRowGroupReader(g);
            var rows = (int)group.RowCount;
            global::Parquet.Schema.DataField Field(string name) => reader.Schema.DataFields.Single(f => f.Path.FirstPart == name);
            async Task<T?[]> Col<T>(string name) where T : struct
            {
                var values = new T?[rows];
                await group.ReadAsync<T>(Field(name), values.AsMemory(), null, default);
                return values;
            }
            var i32 = await Col<int>("i32");
            var i64 = await Col<long>("i64");
            var f32 = await Col<float>("f32");
            var f64 = await Col<double>("f64");
            var flag = await Col<bool>("flag");
            var s = new string?[rows];
            await group.ReadAsync(Field("s"), s.AsMemory(), null, default);
            var maybe = await Col<int>("maybe");
            var lists = ParquetFile.ReadInt32Lists(file, group, g, Field("list"));
            for (var k = 0; k < rows; k++, rowIndex++)
            {
                var i = rowIndex;
                Assert.Equal(i, i32[k]!.Value);
                Assert.Equal(i * 1000000007L, i64[k]!.Value);
                Assert.Equal((float)(i / 7.0), f32[k]!.Value);
                Assert.Equal(i / 3.0, f64[k]!.Value, 12);
                Assert.Equal(i % 3 == 0, flag[k]!.Value);
                Assert.Equal(i % 4 == 0 ? null : $"text {i}", s[k]);
                Assert.Equal(i % 6 == 0 ? null : i, maybe[k]);
                int[]? expected = i % 5 == 0 ? null : i % 5 == 1 ? [] : [i, i + 1, i * 2];
                Assert.Equal(expected, lists[k]);
            }
        }
        Assert.Equal(5000, rowIndex);
        foreach (var e in DuckDb.Run($"select distinct encodings from parquet_metadata({DuckDb.Quote(file)})"))
            encodings.Add((string)e!["encodings"]!);
        if (version == "V2")
        {
            Assert.Contains(encodings, e => e.Contains("DELTA_BINARY_PACKED"));
            Assert.Contains(encodings, e => e.Contains("BYTE_STREAM_SPLIT"));
            Assert.Contains(encodings, e => e.Contains("DELTA_LENGTH_BYTE_ARRAY"));
        }
    }

    private static string Md5(byte[] data) => Convert.ToHexStringLower(MD5.HashData(data));

    internal static JsonNode? Row(JsonArray rows, int i) => rows[i];
}
