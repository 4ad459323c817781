using GidCluster.Dataprep.Parquet.Thrift;

namespace GidCluster.Dataprep.Parquet;

// Spec structs mirroring parquet.thrift (Apache Parquet format). Only the fields this project
// reads or writes are kept; every other field is skipped on read, so newer writers' extra metadata
// is tolerated. Field ids are the ones in parquet.thrift.

/// <summary>Physical types: how values are laid out on disk.</summary>
public enum PhysicalType
{
    Boolean = 0,
    Int32 = 1,
    Int64 = 2,
    Int96 = 3,
    Float = 4,
    Double = 5,
    ByteArray = 6,
    FixedLenByteArray = 7,
}

/// <summary>Legacy logical annotation (kept for readers that predate LogicalType).</summary>
public enum ConvertedType
{
    Utf8 = 0,
    Map = 1,
    MapKeyValue = 2,
    List = 3,
}

/// <summary>Whether a field is always present, may be null, or repeats.</summary>
public enum Repetition
{
    Required = 0,
    Optional = 1,
    Repeated = 2,
}

public enum Encoding
{
    Plain = 0,
    PlainDictionary = 2,
    Rle = 3,
    BitPacked = 4,
    DeltaBinaryPacked = 5,
    DeltaLengthByteArray = 6,
    DeltaByteArray = 7,
    RleDictionary = 8,
    ByteStreamSplit = 9,
}

public enum CompressionCodec
{
    Uncompressed = 0,
    Snappy = 1,
    Gzip = 2,
    Lzo = 3,
    Brotli = 4,
    Lz4 = 5,
    Zstd = 6,
    Lz4Raw = 7,
}

public enum PageType
{
    DataPage = 0,
    IndexPage = 1,
    DictionaryPage = 2,
    DataPageV2 = 3,
}

/// <summary>The LogicalType union, reduced to the annotations this project uses (STRING = 1, LIST = 3).</summary>
public enum LogicalKind
{
    None = 0,
    String = 1,
    List = 3,
    Other = -1,
}

/// <summary>
/// Statistics per column chunk or page. <c>min_value</c>/<c>max_value</c> (ids 6/5) are the
/// encoded values ordered per the column's sort order; the deprecated <c>min</c>/<c>max</c>
/// (ids 2/1) are read as a fallback.
/// </summary>
public sealed class Statistics
{
    public byte[]? Max { get; set; }
    public byte[]? Min { get; set; }
    public long? NullCount { get; set; }
    public long? DistinctCount { get; set; }
    public byte[]? MaxValue { get; set; }
    public byte[]? MinValue { get; set; }

    internal static Statistics Read(CompactReader r)
    {
        var s = new Statistics();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.Binary: s.Max = r.ReadBinary(); break;
                case 2 when type == CompactType.Binary: s.Min = r.ReadBinary(); break;
                case 3 when type == CompactType.I64: s.NullCount = r.ReadI64(); break;
                case 4 when type == CompactType.I64: s.DistinctCount = r.ReadI64(); break;
                case 5 when type == CompactType.Binary: s.MaxValue = r.ReadBinary(); break;
                case 6 when type == CompactType.Binary: s.MinValue = r.ReadBinary(); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return s;
    }

    internal void Write(CompactWriter w)
    {
        if (NullCount is { } n) w.FieldI64(3, n);
        if (DistinctCount is { } d) w.FieldI64(4, d);
        if (MaxValue != null) w.FieldBinary(5, MaxValue);
        if (MinValue != null) w.FieldBinary(6, MinValue);
        w.EndStruct();
    }
}

/// <summary>
/// One node of the flattened schema tree (depth-first; groups carry <c>num_children</c>).
/// The first element is the root, whose name is the table's.
/// </summary>
public sealed class SchemaElement
{
    public PhysicalType? Type { get; set; }
    public int? TypeLength { get; set; }
    public Repetition? RepetitionType { get; set; }
    public string Name { get; set; } = "";
    public int? NumChildren { get; set; }
    public ConvertedType? ConvertedType { get; set; }
    public LogicalKind LogicalType { get; set; }

    internal static SchemaElement Read(CompactReader r)
    {
        var e = new SchemaElement();
        var hasName = false;
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.I32: e.Type = (PhysicalType)r.ReadI32(); break;
                case 2 when type == CompactType.I32: e.TypeLength = r.ReadI32(); break;
                case 3 when type == CompactType.I32: e.RepetitionType = (Repetition)r.ReadI32(); break;
                case 4 when type == CompactType.Binary: e.Name = r.ReadString(); hasName = true; break;
                case 5 when type == CompactType.I32: e.NumChildren = r.ReadI32(); break;
                case 6 when type == CompactType.I32: e.ConvertedType = (ConvertedType)r.ReadI32(); break;
                case 10 when type == CompactType.Struct: e.LogicalType = ReadLogicalType(r); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        if (!hasName)
            throw new CorruptDataException("schema element without a name");
        return e;
    }

    /// <summary>LogicalType is a union: one field set, whose id says the kind; its value (an empty struct for STRING/LIST) is skipped.</summary>
    private static LogicalKind ReadLogicalType(CompactReader r)
    {
        var kind = LogicalKind.None;
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            kind = id switch { 1 => LogicalKind.String, 3 => LogicalKind.List, _ => LogicalKind.Other };
            r.Skip(type);
        }
        r.EndStruct();
        return kind;
    }

    internal void Write(CompactWriter w)
    {
        if (Type is { } t) w.FieldI32(1, (int)t);
        if (TypeLength is { } tl) w.FieldI32(2, tl);
        if (RepetitionType is { } rep) w.FieldI32(3, (int)rep);
        w.FieldString(4, Name);
        if (NumChildren is { } n) w.FieldI32(5, n);
        if (ConvertedType is { } c) w.FieldI32(6, (int)c);
        if (LogicalType is LogicalKind.String or LogicalKind.List)
        {
            w.FieldStructBegin(10);
            w.FieldStructBegin((short)LogicalType); // StringType / ListType: empty structs
            w.EndStruct();
            w.EndStruct();
        }
        w.EndStruct();
    }
}

/// <summary>Per-chunk metadata: where the pages are and how they are encoded.</summary>
public sealed class ColumnMetaData
{
    public PhysicalType Type { get; set; }
    public List<Encoding> Encodings { get; set; } = [];
    public List<string> PathInSchema { get; set; } = [];
    public CompressionCodec Codec { get; set; }
    public long NumValues { get; set; }
    public long TotalUncompressedSize { get; set; }
    public long TotalCompressedSize { get; set; }
    public long DataPageOffset { get; set; }
    public long? DictionaryPageOffset { get; set; }
    public Statistics? Statistics { get; set; }

    internal static ColumnMetaData Read(CompactReader r)
    {
        var m = new ColumnMetaData();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.I32: m.Type = (PhysicalType)r.ReadI32(); break;
                case 2 when type == CompactType.List:
                    var n = r.ReadListHeader(out _);
                    for (var i = 0; i < n; i++) m.Encodings.Add((Encoding)r.ReadI32());
                    break;
                case 3 when type == CompactType.List:
                    var p = r.ReadListHeader(out _);
                    for (var i = 0; i < p; i++) m.PathInSchema.Add(r.ReadString());
                    break;
                case 4 when type == CompactType.I32: m.Codec = (CompressionCodec)r.ReadI32(); break;
                case 5 when type == CompactType.I64: m.NumValues = r.ReadI64(); break;
                case 6 when type == CompactType.I64: m.TotalUncompressedSize = r.ReadI64(); break;
                case 7 when type == CompactType.I64: m.TotalCompressedSize = r.ReadI64(); break;
                case 9 when type == CompactType.I64: m.DataPageOffset = r.ReadI64(); break;
                case 11 when type == CompactType.I64: m.DictionaryPageOffset = r.ReadI64(); break;
                case 12 when type == CompactType.Struct: m.Statistics = Statistics.Read(r); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return m;
    }

    internal void Write(CompactWriter w)
    {
        w.FieldI32(1, (int)Type);
        w.FieldListBegin(2, CompactType.I32, Encodings.Count);
        foreach (var e in Encodings) w.WriteI32((int)e);
        w.FieldListBegin(3, CompactType.Binary, PathInSchema.Count);
        foreach (var p in PathInSchema) w.WriteString(p);
        w.FieldI32(4, (int)Codec);
        w.FieldI64(5, NumValues);
        w.FieldI64(6, TotalUncompressedSize);
        w.FieldI64(7, TotalCompressedSize);
        w.FieldI64(9, DataPageOffset);
        if (DictionaryPageOffset is { } d) w.FieldI64(11, d);
        if (Statistics != null)
        {
            w.FieldStructBegin(12);
            Statistics.Write(w);
        }
        w.EndStruct();
    }
}

/// <summary>A column chunk: one column's pages within one row group.</summary>
public sealed class ColumnChunk
{
    public string? FilePath { get; set; }
    public long FileOffset { get; set; }
    public ColumnMetaData? MetaData { get; set; }

    internal static ColumnChunk Read(CompactReader r)
    {
        var c = new ColumnChunk();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.Binary: c.FilePath = r.ReadString(); break;
                case 2 when type == CompactType.I64: c.FileOffset = r.ReadI64(); break;
                case 3 when type == CompactType.Struct: c.MetaData = ColumnMetaData.Read(r); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return c;
    }

    internal void Write(CompactWriter w)
    {
        w.FieldI64(2, FileOffset);
        if (MetaData != null)
        {
            w.FieldStructBegin(3);
            MetaData.Write(w);
        }
        w.EndStruct();
    }
}

/// <summary>A horizontal slice of the table: one chunk per leaf column.</summary>
public sealed class RowGroup
{
    public List<ColumnChunk> Columns { get; set; } = [];
    public long TotalByteSize { get; set; }
    public long NumRows { get; set; }
    public long? FileOffset { get; set; }
    public long? TotalCompressedSize { get; set; }
    public short? Ordinal { get; set; }

    internal static RowGroup Read(CompactReader r)
    {
        var g = new RowGroup();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.List:
                    var n = r.ReadListHeader(out _);
                    for (var i = 0; i < n; i++) g.Columns.Add(ColumnChunk.Read(r));
                    break;
                case 2 when type == CompactType.I64: g.TotalByteSize = r.ReadI64(); break;
                case 3 when type == CompactType.I64: g.NumRows = r.ReadI64(); break;
                case 5 when type == CompactType.I64: g.FileOffset = r.ReadI64(); break;
                case 6 when type == CompactType.I64: g.TotalCompressedSize = r.ReadI64(); break;
                case 7 when type == CompactType.I16: g.Ordinal = r.ReadI16(); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return g;
    }

    internal void Write(CompactWriter w)
    {
        w.FieldListBegin(1, CompactType.Struct, Columns.Count);
        foreach (var c in Columns)
        {
            w.BeginStruct();
            c.Write(w);
        }
        w.FieldI64(2, TotalByteSize);
        w.FieldI64(3, NumRows);
        if (FileOffset is { } fo) w.FieldI64(5, fo);
        if (TotalCompressedSize is { } tc) w.FieldI64(6, tc);
        if (Ordinal is { } o) w.FieldI16(7, o);
        w.EndStruct();
    }
}

/// <summary>The footer: schema, row groups and who wrote the file.</summary>
public sealed class FileMetaData
{
    public int Version { get; set; }
    public List<SchemaElement> Schema { get; set; } = [];
    public long NumRows { get; set; }
    public List<RowGroup> RowGroups { get; set; } = [];
    public List<KeyValuePair<string, string?>> KeyValueMetadata { get; set; } = [];
    public string? CreatedBy { get; set; }

    internal static FileMetaData Read(CompactReader r)
    {
        var f = new FileMetaData();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.I32: f.Version = r.ReadI32(); break;
                case 2 when type == CompactType.List:
                    var n = r.ReadListHeader(out _);
                    for (var i = 0; i < n; i++) f.Schema.Add(SchemaElement.Read(r));
                    break;
                case 3 when type == CompactType.I64: f.NumRows = r.ReadI64(); break;
                case 4 when type == CompactType.List:
                    var g = r.ReadListHeader(out _);
                    for (var i = 0; i < g; i++) f.RowGroups.Add(RowGroup.Read(r));
                    break;
                case 5 when type == CompactType.List:
                    var k = r.ReadListHeader(out _);
                    for (var i = 0; i < k; i++) f.KeyValueMetadata.Add(ReadKeyValue(r));
                    break;
                case 6 when type == CompactType.Binary: f.CreatedBy = r.ReadString(); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return f;
    }

    private static KeyValuePair<string, string?> ReadKeyValue(CompactReader r)
    {
        string key = "";
        string? value = null;
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.Binary: key = r.ReadString(); break;
                case 2 when type == CompactType.Binary: value = r.ReadString(); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return new(key, value);
    }

    internal byte[] Serialize()
    {
        var w = new CompactWriter();
        w.BeginStruct();
        w.FieldI32(1, Version);
        w.FieldListBegin(2, CompactType.Struct, Schema.Count);
        foreach (var e in Schema)
        {
            w.BeginStruct();
            e.Write(w);
        }
        w.FieldI64(3, NumRows);
        w.FieldListBegin(4, CompactType.Struct, RowGroups.Count);
        foreach (var g in RowGroups)
        {
            w.BeginStruct();
            g.Write(w);
        }
        if (KeyValueMetadata.Count > 0)
        {
            w.FieldListBegin(5, CompactType.Struct, KeyValueMetadata.Count);
            foreach (var (key, value) in KeyValueMetadata)
            {
                w.BeginStruct();
                w.FieldString(1, key);
                if (value != null) w.FieldString(2, value);
                w.EndStruct();
            }
        }
        if (CreatedBy != null) w.FieldString(6, CreatedBy);
        // column_orders: TYPE_ORDER for every leaf; readers trust min_value/max_value only when it is set.
        var leaves = Schema.Count(e => e.Type != null);
        w.FieldListBegin(7, CompactType.Struct, leaves);
        for (var i = 0; i < leaves; i++)
        {
            w.BeginStruct();
            w.FieldStructBegin(1);
            w.EndStruct();
            w.EndStruct();
        }
        w.EndStruct();
        return w.ToArray();
    }
}

/// <summary>Header before every page: its kind, sizes, and the kind-specific header.</summary>
public sealed class PageHeader
{
    public PageType Type { get; set; }
    public int UncompressedPageSize { get; set; }
    public int CompressedPageSize { get; set; }

    /// <summary>CRC-32 of the page bytes as stored (after the header); optional.</summary>
    public int? Crc { get; set; }
    public DataPageHeader? DataPageHeader { get; set; }
    public DictionaryPageHeader? DictionaryPageHeader { get; set; }
    public DataPageHeaderV2? DataPageHeaderV2 { get; set; }

    internal static PageHeader Read(CompactReader r)
    {
        var h = new PageHeader();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.I32: h.Type = (PageType)r.ReadI32(); break;
                case 2 when type == CompactType.I32: h.UncompressedPageSize = r.ReadI32(); break;
                case 3 when type == CompactType.I32: h.CompressedPageSize = r.ReadI32(); break;
                case 4 when type == CompactType.I32: h.Crc = r.ReadI32(); break;
                case 5 when type == CompactType.Struct: h.DataPageHeader = DataPageHeader.Read(r); break;
                case 7 when type == CompactType.Struct: h.DictionaryPageHeader = DictionaryPageHeader.Read(r); break;
                case 8 when type == CompactType.Struct: h.DataPageHeaderV2 = DataPageHeaderV2.Read(r); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return h;
    }

    internal byte[] Serialize()
    {
        var w = new CompactWriter();
        w.BeginStruct();
        w.FieldI32(1, (int)Type);
        w.FieldI32(2, UncompressedPageSize);
        w.FieldI32(3, CompressedPageSize);
        if (Crc is { } crc) w.FieldI32(4, crc);
        if (DataPageHeader != null)
        {
            w.FieldStructBegin(5);
            DataPageHeader.Write(w);
        }
        if (DataPageHeaderV2 != null)
        {
            w.FieldStructBegin(8);
            DataPageHeaderV2.Write(w);
        }
        w.EndStruct();
        return w.ToArray();
    }
}

/// <summary>Data page v1: levels and values share one (possibly compressed) buffer.</summary>
public sealed class DataPageHeader
{
    public int NumValues { get; set; }
    public Encoding Encoding { get; set; }
    public Encoding DefinitionLevelEncoding { get; set; }
    public Encoding RepetitionLevelEncoding { get; set; }
    public Statistics? Statistics { get; set; }

    internal static DataPageHeader Read(CompactReader r)
    {
        var h = new DataPageHeader();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.I32: h.NumValues = r.ReadI32(); break;
                case 2 when type == CompactType.I32: h.Encoding = (Encoding)r.ReadI32(); break;
                case 3 when type == CompactType.I32: h.DefinitionLevelEncoding = (Encoding)r.ReadI32(); break;
                case 4 when type == CompactType.I32: h.RepetitionLevelEncoding = (Encoding)r.ReadI32(); break;
                case 5 when type == CompactType.Struct: h.Statistics = Statistics.Read(r); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return h;
    }

    internal void Write(CompactWriter w)
    {
        w.FieldI32(1, NumValues);
        w.FieldI32(2, (int)Encoding);
        w.FieldI32(3, (int)DefinitionLevelEncoding);
        w.FieldI32(4, (int)RepetitionLevelEncoding);
        if (Statistics != null)
        {
            w.FieldStructBegin(5);
            Statistics.Write(w);
        }
        w.EndStruct();
    }
}

/// <summary>Dictionary page: the distinct values a dictionary-encoded chunk indexes into (PLAIN encoded).</summary>
public sealed class DictionaryPageHeader
{
    public int NumValues { get; set; }
    public Encoding Encoding { get; set; }

    internal static DictionaryPageHeader Read(CompactReader r)
    {
        var h = new DictionaryPageHeader();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.I32: h.NumValues = r.ReadI32(); break;
                case 2 when type == CompactType.I32: h.Encoding = (Encoding)r.ReadI32(); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return h;
    }
}

/// <summary>Data page v2: levels come first, uncompressed, with their byte lengths in the header.</summary>
public sealed class DataPageHeaderV2
{
    public int NumValues { get; set; }
    public int NumNulls { get; set; }
    public int NumRows { get; set; }
    public Encoding Encoding { get; set; }
    public int DefinitionLevelsByteLength { get; set; }
    public int RepetitionLevelsByteLength { get; set; }
    public bool IsCompressed { get; set; } = true;

    internal static DataPageHeaderV2 Read(CompactReader r)
    {
        var h = new DataPageHeaderV2();
        r.BeginStruct();
        while (r.ReadFieldHeader(out var id, out var type))
        {
            switch (id)
            {
                case 1 when type == CompactType.I32: h.NumValues = r.ReadI32(); break;
                case 2 when type == CompactType.I32: h.NumNulls = r.ReadI32(); break;
                case 3 when type == CompactType.I32: h.NumRows = r.ReadI32(); break;
                case 4 when type == CompactType.I32: h.Encoding = (Encoding)r.ReadI32(); break;
                case 5 when type == CompactType.I32: h.DefinitionLevelsByteLength = r.ReadI32(); break;
                case 6 when type == CompactType.I32: h.RepetitionLevelsByteLength = r.ReadI32(); break;
                case 7 when type is CompactType.BooleanTrue or CompactType.BooleanFalse: h.IsCompressed = r.ReadBoolField(); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return h;
    }

    internal void Write(CompactWriter w)
    {
        w.FieldI32(1, NumValues);
        w.FieldI32(2, NumNulls);
        w.FieldI32(3, NumRows);
        w.FieldI32(4, (int)Encoding);
        w.FieldI32(5, DefinitionLevelsByteLength);
        w.FieldI32(6, RepetitionLevelsByteLength);
        w.FieldBool(7, IsCompressed);
        w.EndStruct();
    }
}
