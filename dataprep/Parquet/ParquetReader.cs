using System.Buffers.Binary;
using GidCluster.Dataprep.Parquet.Encodings;
using GidCluster.Dataprep.Parquet.Thrift;
using Microsoft.Win32.SafeHandles;

namespace GidCluster.Dataprep.Parquet;

/// <summary>Limits that keep a corrupt or hostile file from making the reader allocate without bound.</summary>
public sealed record ParquetReaderOptions
{
    /// <summary>Largest footer (file metadata) accepted.</summary>
    public int MaxFooterBytes { get; init; } = 64 << 20;

    /// <summary>Largest page, compressed or not.</summary>
    public int MaxPageBytes { get; init; } = 512 << 20;

    /// <summary>Most level entries (values, nulls, empty lists) per column chunk.</summary>
    public long MaxValuesPerChunk { get; init; } = 4 << 20;
}

/// <summary>
/// Reads a Parquet file: footer → row groups → column chunks → pages. Every byte comes through
/// <see cref="ReadAt"/>; every offset and length from the file is checked against the file size and the
/// <see cref="ParquetReaderOptions"/> before anything is allocated. Any problem with the file becomes a
/// <see cref="ParquetFormatException"/> naming the file and the place.
/// </summary>
public sealed class ParquetReader : IDisposable
{
    private static readonly byte[] Magic = "PAR1"u8.ToArray();
    private readonly SafeFileHandle _handle;
    private readonly ParquetReaderOptions _options;
    private readonly long _footerStart;

    private ParquetReader(string path, SafeFileHandle handle, ParquetReaderOptions options)
    {
        Path = path;
        _handle = handle;
        _options = options;
        try
        {
            FileSize = RandomAccess.GetLength(handle);
            if (FileSize < 12)
                throw new CorruptDataException($"file is {FileSize} bytes, too short for Parquet (at least 12)");
            Span<byte> tail = stackalloc byte[8];
            ReadAt(FileSize - 8, tail);
            Span<byte> head = stackalloc byte[4];
            ReadAt(0, head);
            if (!head.SequenceEqual(Magic) || !tail[4..].SequenceEqual(Magic))
                throw new CorruptDataException("missing the PAR1 magic at the start or end (not a Parquet file, or truncated)");
            var footerLength = BinaryPrimitives.ReadInt32LittleEndian(tail);
            if (footerLength <= 0 || footerLength > FileSize - 12 || footerLength > options.MaxFooterBytes)
                throw new CorruptDataException($"footer length {footerLength} does not fit the {FileSize}-byte file");
            _footerStart = FileSize - 8 - footerLength;
            var footer = new byte[footerLength];
            ReadAt(_footerStart, footer);
            Metadata = FileMetaData.Read(new CompactReader(footer, 0, footer.Length));
            Columns = ParquetSchema.Resolve(Metadata.Schema);
            Validate();
        }
        catch (Exception e) when (e is CorruptDataException or OverflowException)
        {
            handle.Dispose();
            throw new ParquetFormatException(path, $"bad footer: {e.Message}", e);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public long FileSize { get; }

    public FileMetaData Metadata { get; }

    public IReadOnlyList<LeafColumn> Columns { get; }

    public long NumRows => Metadata.NumRows;

    public int RowGroupCount => Metadata.RowGroups.Count;

    /// <summary>Opens a file; a missing file is a <see cref="FileNotFoundException"/>, a malformed one a <see cref="ParquetFormatException"/>.</summary>
    public static ParquetReader Open(string path, ParquetReaderOptions? options = null)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        return new ParquetReader(path, handle, options ?? new ParquetReaderOptions());
    }

    /// <summary>The leaf column whose top-level name (or dotted path) is <paramref name="name"/>.</summary>
    public LeafColumn Column(string name) =>
        Columns.FirstOrDefault(c => c.DottedPath == name)
        ?? Columns.FirstOrDefault(c => c.TopLevelName == name)
        ?? throw new ParquetFormatException(Path, $"has no column '{name}' (columns: {string.Join(", ", Columns.Select(c => c.DottedPath))})");

    /// <summary>The one place bytes are read: exactly <c>dest.Length</c> bytes at <paramref name="offset"/>.</summary>
    public void ReadAt(long offset, Span<byte> dest)
    {
        if (offset < 0 || offset > FileSize - dest.Length)
            throw new CorruptDataException($"read of {dest.Length} bytes at offset {offset} is outside the {FileSize}-byte file");
        while (dest.Length > 0)
        {
            var n = RandomAccess.Read(_handle, dest, offset);
            if (n <= 0)
                throw new CorruptDataException($"file ended at offset {offset} while reading (changed while open?)");
            dest = dest[n..];
            offset += n;
        }
    }

    private void Validate()
    {
        if (Metadata.NumRows < 0)
            throw new CorruptDataException($"negative row count {Metadata.NumRows}");
        long rows = 0;
        for (var g = 0; g < Metadata.RowGroups.Count; g++)
        {
            var group = Metadata.RowGroups[g];
            if (group.NumRows < 0)
                throw new CorruptDataException($"row group {g} has negative row count {group.NumRows}");
            rows += group.NumRows;
            if (group.Columns.Count != Columns.Count)
                throw new CorruptDataException($"row group {g} has {group.Columns.Count} column chunks, the schema has {Columns.Count} columns");
            for (var c = 0; c < Columns.Count; c++)
            {
                var meta = group.Columns[c].MetaData
                    ?? throw new CorruptDataException($"row group {g}, column {Columns[c].DottedPath}: no column metadata");
                if (group.Columns[c].FilePath != null)
                    throw new CorruptDataException($"row group {g}, column {Columns[c].DottedPath}: column data in another file is not supported");
                if (meta.Type != Columns[c].Type)
                    throw new CorruptDataException($"row group {g}, column {Columns[c].DottedPath}: chunk type {meta.Type} differs from the schema's {Columns[c].Type}");
            }
        }
        if (rows != Metadata.NumRows)
            throw new CorruptDataException($"row groups hold {rows} rows but the footer says {Metadata.NumRows}");
    }

    /// <summary>Reads one column chunk completely (all its pages).</summary>
    public ColumnData ReadColumn(int rowGroup, int column)
    {
        if ((uint)rowGroup >= (uint)RowGroupCount)
            throw new ArgumentOutOfRangeException(nameof(rowGroup), $"{Path} has {RowGroupCount} row groups");
        if ((uint)column >= (uint)Columns.Count)
            throw new ArgumentOutOfRangeException(nameof(column), $"{Path} has {Columns.Count} columns");
        var leaf = Columns[column];
        long pageOffset = -1;
        try
        {
            return ReadChunk(Metadata.RowGroups[rowGroup], leaf, ref pageOffset);
        }
        catch (Exception e) when (e is CorruptDataException or OverflowException)
        {
            var where = pageOffset >= 0 ? $", page at offset {pageOffset}" : "";
            throw new ParquetFormatException(Path, $"row group {rowGroup}, column {leaf.DottedPath}{where}: {e.Message}", e);
        }
    }

    private ColumnData ReadChunk(RowGroup group, LeafColumn leaf, ref long pageOffset)
    {
        var meta = group.Columns[leaf.Index].MetaData!;
        var start = meta.DataPageOffset;
        if (meta.DictionaryPageOffset is { } dict && dict > 0 && dict < start)
            start = dict;
        var end = start + meta.TotalCompressedSize;
        if (start < 4 || meta.TotalCompressedSize <= 0 || end > _footerStart || end < start)
            throw new CorruptDataException($"chunk bytes [{start}, {end}) are outside the data area [4, {_footerStart})");
        var total = meta.NumValues;
        if (total < 0 || total > _options.MaxValuesPerChunk)
            throw new CorruptDataException($"chunk claims {total} values (limit {_options.MaxValuesPerChunk})");
        if (leaf.MaxRepetitionLevel == 0 && total != group.NumRows)
            throw new CorruptDataException($"chunk holds {total} values but the row group has {group.NumRows} rows");
        var count = (int)total;
        var values = NewValues(leaf.Type, count);
        var defs = leaf.MaxDefinitionLevel > 0 ? new byte[count] : null;
        var reps = leaf.MaxRepetitionLevel > 0 ? new byte[count] : null;
        Array? dictionary = null;
        var levelsRead = 0;
        var valuesRead = 0;
        var pos = start;
        while (levelsRead < count)
        {
            if (pos >= end)
                throw new CorruptDataException($"chunk ends after {levelsRead} of {count} values");
            pageOffset = pos;
            var (header, headerLength) = ReadPageHeader(pos, end);
            pos += headerLength;
            var size = header.CompressedPageSize;
            if (size < 0 || size > end - pos || size > _options.MaxPageBytes)
                throw new CorruptDataException($"page of {size} bytes does not fit the {end - pos} bytes left in the chunk");
            var raw = new byte[size];
            ReadAt(pos, raw);
            pos += size;
            if (header.Crc is { } crc && unchecked((uint)crc) != Crc32.Compute(raw))
                throw new CorruptDataException($"page checksum mismatch (CRC-32 {Crc32.Compute(raw):x8}, header says {unchecked((uint)crc):x8})");
            switch (header.Type)
            {
                case PageType.DictionaryPage:
                    {
                        var dh = header.DictionaryPageHeader ?? throw new CorruptDataException("dictionary page without its header");
                        if (dictionary != null)
                            throw new CorruptDataException("second dictionary page in one chunk");
                        if (dh.Encoding is not (Encoding.Plain or Encoding.PlainDictionary))
                            throw new CorruptDataException($"dictionary page encoding {dh.Encoding} is not supported");
                        var page = Compression.Decompress(meta.Codec, raw, header.UncompressedPageSize, _options.MaxPageBytes);
                        if (dh.NumValues < 0 || (long)dh.NumValues > Math.Max(page.Length, 1) * 8L)
                            throw new CorruptDataException($"dictionary claims {dh.NumValues} values in {page.Length} bytes");
                        dictionary = NewValues(leaf.Type, dh.NumValues);
                        PlainEncoding.Decode(leaf.Type, page, dh.NumValues, dictionary, 0);
                        break;
                    }
                case PageType.DataPage:
                    {
                        var dh = header.DataPageHeader ?? throw new CorruptDataException("data page without its header");
                        var n = CheckPageValues(dh.NumValues, count - levelsRead);
                        var page = Compression.Decompress(meta.Codec, raw, header.UncompressedPageSize, _options.MaxPageBytes);
                        var offset = 0;
                        if (reps != null)
                            offset += ReadLevelsV1(page, offset, dh.RepetitionLevelEncoding, leaf.MaxRepetitionLevel, reps.AsSpan(levelsRead, n));
                        if (defs != null)
                            offset += ReadLevelsV1(page, offset, dh.DefinitionLevelEncoding, leaf.MaxDefinitionLevel, defs.AsSpan(levelsRead, n));
                        var present = CountPresent(defs, levelsRead, n, leaf.MaxDefinitionLevel);
                        DecodeValues(leaf, dh.Encoding, page.AsSpan(offset), present, dictionary, values, valuesRead);
                        levelsRead += n;
                        valuesRead += present;
                        break;
                    }
                case PageType.DataPageV2:
                    {
                        var dh = header.DataPageHeaderV2 ?? throw new CorruptDataException("data page v2 without its header");
                        var n = CheckPageValues(dh.NumValues, count - levelsRead);
                        var levelBytes = (long)dh.RepetitionLevelsByteLength + dh.DefinitionLevelsByteLength;
                        if (dh.RepetitionLevelsByteLength < 0 || dh.DefinitionLevelsByteLength < 0 || levelBytes > raw.Length)
                            throw new CorruptDataException($"v2 level lengths {dh.RepetitionLevelsByteLength}+{dh.DefinitionLevelsByteLength} exceed the {raw.Length}-byte page");
                        if (reps != null)
                            DecodeLevels(raw.AsSpan(0, dh.RepetitionLevelsByteLength), leaf.MaxRepetitionLevel, reps.AsSpan(levelsRead, n));
                        if (defs != null)
                            DecodeLevels(raw.AsSpan(dh.RepetitionLevelsByteLength, dh.DefinitionLevelsByteLength), leaf.MaxDefinitionLevel, defs.AsSpan(levelsRead, n));
                        var body = raw[(int)levelBytes..];
                        var uncompressedBody = header.UncompressedPageSize - levelBytes;
                        if (uncompressedBody < 0)
                            throw new CorruptDataException($"v2 page uncompressed size {header.UncompressedPageSize} is smaller than its levels");
                        if (dh.IsCompressed && meta.Codec != CompressionCodec.Uncompressed)
                            body = Compression.Decompress(meta.Codec, body, (int)uncompressedBody, _options.MaxPageBytes);
                        var present = CountPresent(defs, levelsRead, n, leaf.MaxDefinitionLevel);
                        DecodeValues(leaf, dh.Encoding, body, present, dictionary, values, valuesRead);
                        levelsRead += n;
                        valuesRead += present;
                        break;
                    }
                default:
                    break; // index pages carry nothing we need
            }
        }
        pageOffset = -1;
        if (valuesRead != values.Length)
            values = Trim(values, valuesRead);
        return new ColumnData(leaf.Type, values, defs, reps);
    }

    private static int CheckPageValues(int n, int left)
    {
        if (n < 0 || n > left)
            throw new CorruptDataException($"page claims {n} values but only {left} remain in the chunk");
        return n;
    }

    /// <summary>Reads a page header, growing the window when the header (e.g. with large statistics) does not fit.</summary>
    private (PageHeader Header, int Length) ReadPageHeader(long pos, long end)
    {
        var window = (int)Math.Min(end - pos, 4096);
        while (true)
        {
            var buffer = new byte[window];
            ReadAt(pos, buffer);
            var reader = new CompactReader(buffer, 0, buffer.Length);
            try
            {
                var header = PageHeader.Read(reader);
                return (header, reader.Position);
            }
            catch (TruncatedDataException) when (window < end - pos && window < _options.MaxFooterBytes)
            {
                window = (int)Math.Min(Math.Min(end - pos, (long)window * 16), _options.MaxFooterBytes);
            }
        }
    }

    private static int ReadLevelsV1(byte[] page, int offset, Encoding encoding, int maxLevel, Span<byte> dest)
    {
        if (encoding != Encoding.Rle)
            throw new CorruptDataException($"level encoding {encoding} is not supported (only RLE)");
        if (page.Length - offset < 4)
            throw new CorruptDataException("level length prefix is truncated");
        var length = BinaryPrimitives.ReadInt32LittleEndian(page.AsSpan(offset));
        if (length < 0 || length > page.Length - offset - 4)
            throw new CorruptDataException($"levels of {length} bytes exceed the {page.Length - offset - 4} bytes left in the page");
        DecodeLevels(page.AsSpan(offset + 4, length), maxLevel, dest);
        return 4 + length;
    }

    private static void DecodeLevels(ReadOnlySpan<byte> data, int maxLevel, Span<byte> dest)
    {
        var levels = new int[dest.Length];
        RleBitPackedHybrid.Decode(data, RleBitPackedHybrid.BitWidth(maxLevel), levels);
        for (var i = 0; i < levels.Length; i++)
        {
            if ((uint)levels[i] > (uint)maxLevel)
                throw new CorruptDataException($"level {levels[i]} exceeds the column's maximum {maxLevel}");
            dest[i] = (byte)levels[i];
        }
    }

    private static int CountPresent(byte[]? defs, int start, int n, int maxDef)
    {
        if (defs == null)
            return n;
        var present = 0;
        for (var i = start; i < start + n; i++)
        {
            if (defs[i] == maxDef)
                present++;
        }
        return present;
    }

    private static void DecodeValues(LeafColumn leaf, Encoding encoding, ReadOnlySpan<byte> data, int count, Array? dictionary, Array values, int offset)
    {
        switch (encoding)
        {
            case Encoding.Plain:
                PlainEncoding.Decode(leaf.Type, data, count, values, offset);
                break;
            case Encoding.PlainDictionary:
            case Encoding.RleDictionary:
                if (dictionary == null)
                    throw new CorruptDataException("dictionary-encoded page but the chunk has no dictionary page");
                DictionaryEncoding.Decode(data, count, dictionary, values, offset);
                break;
            case Encoding.DeltaBinaryPacked when leaf.Type is PhysicalType.Int32 or PhysicalType.Int64:
                {
                    var longs = new long[count];
                    DeltaBinaryPacked.Decode(data, count, longs);
                    if (values is long[] l)
                        longs.CopyTo(l, offset);
                    else
                        for (var i = 0; i < count; i++) ((int[])values)[offset + i] = unchecked((int)longs[i]);
                    break;
                }
            case Encoding.DeltaLengthByteArray when leaf.Type == PhysicalType.ByteArray:
                DeltaLengthByteArray.Decode(data, count, (byte[][])values, offset);
                break;
            case Encoding.ByteStreamSplit when leaf.Type is PhysicalType.Float or PhysicalType.Double or PhysicalType.Int32 or PhysicalType.Int64:
                {
                    var width = leaf.Type is PhysicalType.Float or PhysicalType.Int32 ? 4 : 8;
                    var bytes = new byte[count * width];
                    ByteStreamSplit.Decode(data, count, width, bytes);
                    PlainEncoding.Decode(leaf.Type, bytes, count, values, offset);
                    break;
                }
            case Encoding.Rle when leaf.Type == PhysicalType.Boolean:
                {
                    // Booleans as RLE (v2 pages): 4-byte length, then the hybrid at bit width 1.
                    if (data.Length < 4)
                        throw new CorruptDataException("RLE boolean length prefix is truncated");
                    var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(data);
                    if (length < 0 || length > data.Length - 4)
                        throw new CorruptDataException($"RLE booleans of {length} bytes exceed the {data.Length - 4} bytes left");
                    var bits = new int[count];
                    RleBitPackedHybrid.Decode(data.Slice(4, length), 1, bits);
                    for (var i = 0; i < count; i++) ((bool[])values)[offset + i] = bits[i] != 0;
                    break;
                }
            default:
                throw new CorruptDataException($"value encoding {encoding} is not supported for {leaf.Type} (PLAIN, dictionary, RLE booleans, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, BYTE_STREAM_SPLIT)");
        }
    }

    private static Array NewValues(PhysicalType type, int count) => type switch
    {
        PhysicalType.Int32 => new int[count],
        PhysicalType.Int64 => new long[count],
        PhysicalType.Float => new float[count],
        PhysicalType.Double => new double[count],
        PhysicalType.Boolean => new bool[count],
        PhysicalType.ByteArray => new byte[count][],
        _ => throw new CorruptDataException($"physical type {type} is not supported"),
    };

    private static Array Trim(Array values, int count)
    {
        var trimmed = Array.CreateInstance(values.GetType().GetElementType()!, count);
        Array.Copy(values, trimmed, count);
        return trimmed;
    }

    public void Dispose() => _handle.Dispose();
}
