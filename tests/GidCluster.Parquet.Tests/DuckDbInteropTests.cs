using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GidCluster.Dataprep.Parquet;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;
using GidCluster.TestSupport;

namespace GidCluster.Parquet.Tests;

/// <summary>Our shards against DuckDB, the independent Parquet implementation, in both directions.</summary>
public class DuckDbInteropTests
{
    [Theory]
    [InlineData(CompressionCodec.Snappy)]
    [InlineData(CompressionCodec.Uncompressed)]
    public void Our_shard_opens_in_DuckDB_with_the_same_rows_and_values(CompressionCodec codec)
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
    public void DuckDB_nulls_lists_and_every_primitive_type_read_back_in_ours(string version)
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
        using var reader = ParquetReader.Open(file);
        Assert.Equal(5000, reader.NumRows);
        Assert.True(reader.RowGroupCount >= 2, $"{reader.RowGroupCount} row groups");
        var rowIndex = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            object?[] Col(string name) => reader.ReadColumn(g, reader.Column(name).Index).RowValues(reader.Column(name));
            var i32 = Col("i32");
            var i64 = Col("i64");
            var f32 = Col("f32");
            var f64 = Col("f64");
            var flag = Col("flag");
            var s = Col("s");
            var maybe = Col("maybe");
            var listLeaf = reader.Column("list");
            var lists = reader.ReadColumn(g, listLeaf.Index).Int32ListRows(listLeaf, file);
            for (var k = 0; k < i32.Length; k++, rowIndex++)
            {
                var i = rowIndex;
                Assert.Equal(i, (int)i32[k]!);
                Assert.Equal(i * 1000000007L, (long)i64[k]!);
                Assert.Equal((float)(i / 7.0), (float)f32[k]!);
                Assert.Equal(i / 3.0, (double)f64[k]!, 12);
                Assert.Equal(i % 3 == 0, (bool)flag[k]!);
                Assert.Equal(i % 4 == 0 ? null : $"text {i}", s[k] is byte[] b ? System.Text.Encoding.UTF8.GetString(b) : null);
                Assert.Equal(i % 6 == 0 ? null : i, (int?)maybe[k]);
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

    [Theory]
    [InlineData(1)]
    [InlineData(2)] // DuckDB never writes DATA_PAGE_V2 itself, so it checks our v2 pages; our reader reads them back below
    public void Our_generic_writer_nulls_and_types_read_correctly_in_DuckDB(int pageVersion)
    {
        using var dir = Paths.NewTempDir();
        var file = Path.Combine(dir.Path, "ours.parquet");
        var n = 30;
        var columns = new ColumnSpec[]
        {
            new("i64", PhysicalType.Int64),
            new("f64", PhysicalType.Double),
            new("flag", PhysicalType.Boolean),
            new("name", PhysicalType.ByteArray, Optional: true, IsString: true),
            new("maybe", PhysicalType.Int32, Optional: true),
            new("offsets", PhysicalType.Int32, IsList: true),
        };
        using (var writer = ParquetWriter.Create(file, columns, new ParquetWriterOptions { Codec = CompressionCodec.Snappy, TargetPageBytes = 64, DataPageVersion = pageVersion }))
        {
            for (var g = 0; g < 3; g++)
            {
                var idx = Enumerable.Range(g * n / 3, n / 3).ToArray();
                writer.WriteRowGroup(
                [
                    ColumnData.Required(idx.Select(i => (long)i << 33).ToArray()),
                    ColumnData.Required(idx.Select(i => i * 0.25).ToArray()),
                    ColumnData.Required(idx.Select(i => i % 2 == 1).ToArray()),
                    ColumnData.Optional(PhysicalType.ByteArray, idx.Select(i => i % 3 == 0 ? null : System.Text.Encoding.UTF8.GetBytes($"n{i}")).ToArray()),
                    ColumnData.OptionalValues(PhysicalType.Int32, idx.Select(i => i % 4 == 0 ? (int?)null : -i).ToArray()),
                    ColumnData.Int32Lists(idx.Select(i => Enumerable.Range(0, i % 4).Select(k => i * 10 + k).ToArray()).ToArray()),
                ]);
            }
            writer.Close();
        }
        var rows = DuckDb.Run($"select i64, f64, flag, name, maybe, offsets from read_parquet({DuckDb.Quote(file)}, file_row_number = true) order by file_row_number");
        Assert.Equal(n, rows.Count);
        for (var i = 0; i < n; i++)
        {
            var r = rows[i]!;
            Assert.Equal(((long)i << 33).ToString(CultureInfo.InvariantCulture), r["i64"]!.ToString());
            Assert.Equal(i * 0.25, (double)r["f64"]!);
            Assert.Equal(i % 2 == 1, (bool)r["flag"]!);
            Assert.Equal(i % 3 == 0 ? null : $"n{i}", (string?)r["name"]);
            Assert.Equal(i % 4 == 0 ? null : -i, (int?)r["maybe"]);
            Assert.Equal(Enumerable.Range(0, i % 4).Select(k => i * 10 + k), r["offsets"]!.AsArray().Select(x => (int)x!));
        }
        // And our reader reads the same values back.
        using var reader = ParquetReader.Open(file);
        var at = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            var i64 = reader.ReadColumn(g, 0).RowValues(reader.Columns[0]);
            var names = reader.ReadColumn(g, 3).RowValues(reader.Columns[3]);
            var maybe = reader.ReadColumn(g, 4).RowValues(reader.Columns[4]);
            var lists = reader.ReadColumn(g, 5).Int32ListRows(reader.Columns[5], file);
            for (var k = 0; k < i64.Length; k++, at++)
            {
                Assert.Equal((long)at << 33, (long)i64[k]!);
                Assert.Equal(at % 3 == 0 ? null : $"n{at}", names[k] is byte[] b ? System.Text.Encoding.UTF8.GetString(b) : null);
                Assert.Equal(at % 4 == 0 ? null : -at, (int?)maybe[k]);
                Assert.Equal(Enumerable.Range(0, at % 4).Select(x => at * 10 + x), lists[k]!);
            }
        }
        Assert.Equal(n, at);
        var stats = reader.Metadata.RowGroups[0].Columns[3].MetaData!.Statistics!;
        Assert.Equal(4, stats.NullCount);
        var nameStats = DuckDb.Run($"select stats_min_value as stats_min, stats_max_value as stats_max, stats_null_count::INTEGER as nulls from parquet_metadata({DuckDb.Quote(file)}) where path_in_schema = 'name' and row_group_id = 0");
        Assert.Equal("n1", (string)nameStats[0]!["stats_min"]!);
        Assert.Equal("n8", (string)nameStats[0]!["stats_max"]!);
        Assert.Equal(4, (int)nameStats[0]!["nulls"]!);
    }

    private static string Md5(byte[] data) => Convert.ToHexStringLower(MD5.HashData(data));

    internal static JsonNode? Row(JsonArray rows, int i) => rows[i];
}
