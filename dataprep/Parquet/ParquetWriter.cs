using System.Buffers.Binary;
using GidCluster.Dataprep.Parquet.Encodings;

namespace GidCluster.Dataprep.Parquet;

public sealed record ParquetWriterOptions
{
    public CompressionCodec Codec { get; init; } = CompressionCodec.Snappy;

    /// <summary>Pages are cut at the first row boundary after this many (uncompressed) bytes.</summary>
    public int TargetPageBytes { get; init; } = 1 << 20;

    /// <summary>1: DATA_PAGE (levels inside the compressed body, length-prefixed); 2: DATA_PAGE_V2 (levels first, uncompressed).</summary>
    public int DataPageVersion { get; init; } = 1;

    /// <summary>Key/value pairs stored in the footer (e.g. the sample schema version).</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> KeyValueMetadata { get; init; } = [];
}

/// <summary>
/// Writes a Parquet file row group by row group, straight to the output stream: only the row group
/// being written and the footer's metadata stay in memory. Pages are data page v1 with PLAIN values
/// and RLE levels; chunks carry statistics (null count, and min/max except for opaque blobs).
/// </summary>
public sealed class ParquetWriter : IDisposable
{
    private const string CreatedBy = "GidCluster parquet writer 1.0";
    /// <summary>Strings longer than this get no min/max: the statistics would bloat the footer.</summary>
    private const int MaxStatisticsValueBytes = 256;

    private readonly Stream _out;
    private readonly bool _ownsStream;
    private readonly ParquetWriterOptions _options;
    private readonly IReadOnlyList<ColumnSpec> _specs;
    private readonly List<LeafColumn> _leaves;
    private readonly FileMetaData _metadata;
    private bool _closed;

    public ParquetWriter(Stream output, IReadOnlyList<ColumnSpec> columns, ParquetWriterOptions? options = null, bool ownsStream = false)
    {
        if (columns.Count == 0)
            throw new ArgumentException("a Parquet file needs at least one column", nameof(columns));
        var dup = columns.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null)
            throw new ArgumentException($"column '{dup.Key}' is declared twice", nameof(columns));
        _out = output;
        _ownsStream = ownsStream;
        _options = options ?? new ParquetWriterOptions();
        if (_options.DataPageVersion is not (1 or 2))
            throw new ArgumentException($"data page version {_options.DataPageVersion} must be 1 or 2");
        if (_options.Codec is not (CompressionCodec.Uncompressed or CompressionCodec.Snappy))
            throw new NotSupportedException($"codec {_options.Codec} is not supported (UNCOMPRESSED or SNAPPY)");
        _specs = columns;
        var schema = ParquetSchema.Build(columns);
        _leaves = ParquetSchema.Resolve(schema);
        _metadata = new FileMetaData
        {
            Version = 1,
            Schema = schema,
            CreatedBy = CreatedBy,
            KeyValueMetadata = [.. _options.KeyValueMetadata],
        };
        _out.Write("PAR1"u8);
        Position = 4;
    }

    public static ParquetWriter Create(string path, IReadOnlyList<ColumnSpec> columns, ParquetWriterOptions? options = null) =>
        new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16), columns, options, ownsStream: true);

    /// <summary>Bytes written so far (the footer not included until <see cref="Close"/>).</summary>
    public long Position { get; private set; }

    public long RowCount => _metadata.NumRows;

    public IReadOnlyList<LeafColumn> Columns => _leaves;

    /// <summary>Writes one row group; <paramref name="columns"/> are in schema order, all with the same row count.</summary>
    public void WriteRowGroup(IReadOnlyList<ColumnData> columns)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (columns.Count != _leaves.Count)
            throw new ArgumentException($"expected {_leaves.Count} columns, got {columns.Count}", nameof(columns));
        var rows = -1;
        for (var i = 0; i < columns.Count; i++)
        {
            Check(_leaves[i], _specs[i], columns[i]);
            var r = columns[i].RowCount;
            if (rows >= 0 && r != rows)
                throw new ArgumentException($"column {_leaves[i].DottedPath} has {r} rows, earlier columns have {rows}");
            rows = r;
        }
        var group = new RowGroup { NumRows = rows, FileOffset = Position, Ordinal = checked((short)_metadata.RowGroups.Count) };
        long uncompressed = 0, compressed = 0;
        for (var i = 0; i < columns.Count; i++)
        {
            var chunk = WriteChunk(_leaves[i], _specs[i], columns[i]);
            group.Columns.Add(chunk);
            uncompressed += chunk.MetaData!.TotalUncompressedSize;
            compressed += chunk.MetaData.TotalCompressedSize;
        }
        group.TotalByteSize = uncompressed;
        group.TotalCompressedSize = compressed;
        _metadata.RowGroups.Add(group);
        _metadata.NumRows += rows;
    }

    private static void Check(LeafColumn leaf, ColumnSpec spec, ColumnData data)
    {
        if (data.Type != spec.Type)
            throw new ArgumentException($"column {spec.Name} is {spec.Type}, data is {data.Type}");
        if ((leaf.MaxDefinitionLevel > 0) != (data.DefinitionLevels != null) || (leaf.MaxRepetitionLevel > 0) != (data.RepetitionLevels != null))
            throw new ArgumentException($"column {spec.Name}: levels do not match its schema (optional={spec.Optional}, list={spec.IsList})");
        if (data.DefinitionLevels != null && data.RepetitionLevels != null && data.DefinitionLevels.Length != data.RepetitionLevels.Length)
            throw new ArgumentException($"column {spec.Name}: definition and repetition levels differ in count");
        var present = data.DefinitionLevels?.Count(d => d == leaf.MaxDefinitionLevel) ?? data.Values.Length;
        if (present != data.Values.Length)
            throw new ArgumentException($"column {spec.Name}: {data.Values.Length} values but the levels define {present}");
        if (data.Values is byte[][] arrays && arrays.Any(a => a == null))
            throw new ArgumentException($"column {spec.Name}: null byte array among the values (use definition levels for nulls)");
    }

    private ColumnChunk WriteChunk(LeafColumn leaf, ColumnSpec spec, ColumnData data)
    {
        var chunkStart = Position;
        long uncompressedTotal = 0;
        var levelCount = data.LevelCount;
        var level = 0;
        var value = 0;
        do
        {
            // Take whole rows until the page reaches its target size.
            var pageLevelStart = level;
            var pageValueStart = value;
            long bytes = 0;
            while (level < levelCount)
            {
                var isValue = data.DefinitionLevels == null || data.DefinitionLevels[level] == leaf.MaxDefinitionLevel;
                if (isValue)
                    bytes += PlainEncoding.EncodedSize(data.Type, data.Values, value++);
                level++;
                var rowEnds = data.RepetitionLevels == null || level == levelCount || data.RepetitionLevels[level] == 0;
                if (rowEnds && bytes >= _options.TargetPageBytes)
                    break;
            }
            uncompressedTotal += WritePage(leaf, data, pageLevelStart, level - pageLevelStart, pageValueStart, value - pageValueStart);
        }
        while (level < levelCount);

        var meta = new ColumnMetaData
        {
            Type = data.Type,
            Encodings = [Encoding.Plain, Encoding.Rle],
            PathInSchema = [.. leaf.Path],
            Codec = _options.Codec,
            NumValues = levelCount,
            TotalUncompressedSize = uncompressedTotal,
            TotalCompressedSize = Position - chunkStart,
            DataPageOffset = chunkStart,
            Statistics = ComputeStatistics(spec, data),
        };
        return new ColumnChunk { FileOffset = chunkStart, MetaData = meta };
    }

    /// <summary>Writes one data page (v1 or v2 per the options); returns its uncompressed size including the header.</summary>
    private long WritePage(LeafColumn leaf, ColumnData data, int levelStart, int levels, int valueStart, int values)
    {
        var v2 = _options.DataPageVersion == 2;
        using var levelBytes = new MemoryStream();
        int repLength = 0, defLength = 0;
        if (data.RepetitionLevels != null)
            repLength = WriteLevels(levelBytes, data.RepetitionLevels.AsSpan(levelStart, levels), leaf.MaxRepetitionLevel, lengthPrefix: !v2);
        if (data.DefinitionLevels != null)
            defLength = WriteLevels(levelBytes, data.DefinitionLevels.AsSpan(levelStart, levels), leaf.MaxDefinitionLevel, lengthPrefix: !v2);
        using var valueBytes = new MemoryStream();
        PlainEncoding.Encode(data.Type, data.Values, valueStart, values, valueBytes);
        byte[] uncompressed, compressed;
        if (v2)
        {
            // v2: levels stay uncompressed in front; only the values go through the codec.
            var levelArray = levelBytes.ToArray();
            var rawValues = valueBytes.ToArray();
            uncompressed = [.. levelArray, .. rawValues];
            compressed = [.. levelArray, .. Compression.Compress(_options.Codec, rawValues)];
        }
        else
        {
            levelBytes.Write(valueBytes.GetBuffer(), 0, (int)valueBytes.Length);
            uncompressed = levelBytes.ToArray();
            compressed = Compression.Compress(_options.Codec, uncompressed);
        }
        var header = new PageHeader
        {
            Type = v2 ? PageType.DataPageV2 : PageType.DataPage,
            UncompressedPageSize = uncompressed.Length,
            CompressedPageSize = compressed.Length,
            Crc = unchecked((int)Crc32.Compute(compressed)),
            DataPageHeader = v2 ? null : new DataPageHeader
            {
                NumValues = levels,
                Encoding = Encoding.Plain,
                DefinitionLevelEncoding = Encoding.Rle,
                RepetitionLevelEncoding = Encoding.Rle,
            },
            DataPageHeaderV2 = !v2 ? null : new DataPageHeaderV2
            {
                NumValues = levels,
                NumNulls = levels - values,
                NumRows = data.RepetitionLevels == null ? levels : data.RepetitionLevels.AsSpan(levelStart, levels).Count((byte)0),
                Encoding = Encoding.Plain,
                DefinitionLevelsByteLength = defLength,
                RepetitionLevelsByteLength = repLength,
                IsCompressed = _options.Codec != CompressionCodec.Uncompressed,
            },
        }.Serialize();
        _out.Write(header);
        _out.Write(compressed);
        Position += header.Length + compressed.Length;
        return header.Length + uncompressed.Length;
    }

    /// <summary>RLE-encodes levels into <paramref name="body"/> (v1: after a 4-byte length); returns the encoded length without the prefix.</summary>
    private static int WriteLevels(Stream body, ReadOnlySpan<byte> levels, int maxLevel, bool lengthPrefix)
    {
        var ints = new int[levels.Length];
        for (var i = 0; i < ints.Length; i++)
            ints[i] = levels[i];
        using var encoded = new MemoryStream();
        RleBitPackedHybrid.Encode(ints, RleBitPackedHybrid.BitWidth(maxLevel), encoded);
        if (lengthPrefix)
        {
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, (int)encoded.Length);
            body.Write(length);
        }
        encoded.Position = 0;
        encoded.CopyTo(body);
        return (int)encoded.Length;
    }

    /// <summary>Null count always; min/max for numbers and short strings (PLAIN bytes, without a length for byte arrays).</summary>
    private static Statistics ComputeStatistics(ColumnSpec spec, ColumnData data)
    {
        var stats = new Statistics { NullCount = data.DefinitionLevels?.Count(d => d == 0 && !spec.IsList) ?? 0 };
        if (data.Values.Length == 0)
            return stats;
        switch (data.Values)
        {
            case int[] v:
                stats.MinValue = BitConverter.GetBytes(v.Min());
                stats.MaxValue = BitConverter.GetBytes(v.Max());
                break;
            case long[] v:
                stats.MinValue = BitConverter.GetBytes(v.Min());
                stats.MaxValue = BitConverter.GetBytes(v.Max());
                break;
            case float[] v when v.Any(x => !float.IsNaN(x)):
                var fmin = v.Where(x => !float.IsNaN(x)).Min();
                var fmax = v.Where(x => !float.IsNaN(x)).Max();
                // The spec asks for -0.0 as a zero minimum and +0.0 as a zero maximum.
                stats.MinValue = BitConverter.GetBytes(fmin == 0 ? -0.0f : fmin);
                stats.MaxValue = BitConverter.GetBytes(fmax == 0 ? 0.0f : fmax);
                break;
            case double[] v when v.Any(x => !double.IsNaN(x)):
                var dmin = v.Where(x => !double.IsNaN(x)).Min();
                var dmax = v.Where(x => !double.IsNaN(x)).Max();
                stats.MinValue = BitConverter.GetBytes(dmin == 0 ? -0.0 : dmin);
                stats.MaxValue = BitConverter.GetBytes(dmax == 0 ? 0.0 : dmax);
                break;
            case bool[] v:
                stats.MinValue = [(byte)(v.All(x => x) ? 1 : 0)];
                stats.MaxValue = [(byte)(v.Any(x => x) ? 1 : 0)];
                break;
            case byte[][] v when spec.IsString && v.All(x => x.Length <= MaxStatisticsValueBytes):
                byte[] min = v[0], max = v[0];
                foreach (var x in v)
                {
                    if (x.AsSpan().SequenceCompareTo(min) < 0) min = x;
                    if (x.AsSpan().SequenceCompareTo(max) > 0) max = x;
                }
                stats.MinValue = min;
                stats.MaxValue = max;
                break;
        }
        return stats;
    }

    /// <summary>Writes the footer and closes the file.</summary>
    public void Close()
    {
        if (_closed)
            return;
        _closed = true;
        var footer = _metadata.Serialize();
        _out.Write(footer);
        Span<byte> tail = stackalloc byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(tail, footer.Length);
        "PAR1"u8.CopyTo(tail[4..]);
        _out.Write(tail);
        Position += footer.Length + 8;
        _out.Flush();
        if (_ownsStream)
            _out.Dispose();
    }

    /// <summary>Closes the file if still open. An unclosed writer leaves an invalid file (no footer), by design: only Close() completes it.</summary>
    public void Dispose()
    {
        if (!_closed && _ownsStream)
        {
            _closed = true;
            _out.Dispose();
        }
    }
}
