using System.Runtime.InteropServices;
using System.Text.Json;
using GidCluster.Dataprep.Samples;
using Parquet;
using Parquet.Schema;
using PhysicalType = Parquet.Meta.Type;

namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Reads samples back from a shard with Parquet.Net, one row group at a time (never the whole-file
/// deserializer, which peaked at 3.6 GB on a 1 GB shard). Accepts any Parquet file with the sample columns
/// (in any order, required or optional, e.g. one DuckDB wrote); a null in a sample field, a missing column,
/// a wrong type or anything Parquet.Net throws is a <see cref="ParquetFormatException"/> naming the file.
/// </summary>
public sealed class ShardReader : IDisposable
{
    private readonly ParquetFile _file;
    private readonly ParquetReader _parquet;
    private readonly Dictionary<string, DataField> _fields = [];

    private ShardReader(ParquetFile file)
    {
        _file = file;
        Path = file.Path;
        _parquet = file.Reader;
        Require(SampleColumns.VideoId, PhysicalType.BYTE_ARRAY);
        Require(SampleColumns.StartFrame, PhysicalType.INT32);
        Require(SampleColumns.Fps, PhysicalType.FLOAT);
        Require(SampleColumns.Width, PhysicalType.INT32);
        Require(SampleColumns.Height, PhysicalType.INT32);
        Require(SampleColumns.Image, PhysicalType.BYTE_ARRAY);
        Require(SampleColumns.SpectralVolume, PhysicalType.BYTE_ARRAY);
        Require(SampleColumns.TargetFrames, PhysicalType.BYTE_ARRAY);
        Require(SampleColumns.TargetOffsets, PhysicalType.INT32, list: true);
        Require(SampleColumns.SourceUri, PhysicalType.BYTE_ARRAY);
        Require(SampleColumns.FlowMethod, PhysicalType.BYTE_ARRAY);
        Require(SampleColumns.Quality, PhysicalType.BYTE_ARRAY);
        Require(SampleColumns.Split, PhysicalType.BYTE_ARRAY);
    }

    /// <summary>Opens a shard; <paramref name="verify"/>, if given, sees the opened file first (e.g. a manifest's SHA-256 check).</summary>
    public static ShardReader Open(string path, Action<Stream>? verify = null)
    {
        var file = ParquetFile.Open(path, verify);
        try
        {
            return ParquetFile.Guard(path, "cannot read the schema", () => new ShardReader(file));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public long RowCount => _parquet.Metadata!.NumRows;

    public int RowGroupCount => _parquet.RowGroupCount;

    public long RowGroupRows(int rowGroup) => _parquet.Metadata!.RowGroups[rowGroup].NumRows;

    private void Require(string name, PhysicalType type, bool list = false)
    {
        var field = _parquet.Schema.DataFields.FirstOrDefault(f => f.Path.FirstPart == name)
            ?? throw new ParquetFormatException(Path, $"is not a sample shard: column '{name}' is missing");
        var actual = field.SchemaElement?.Type;
        if (actual != type)
            throw new ParquetFormatException(Path, $"column '{name}' is {actual}, expected {type}");
        if (list ? field.MaxRepetitionLevel != 1 : field.MaxRepetitionLevel != 0)
            throw new ParquetFormatException(Path, $"column '{name}' {(list ? "must be a list" : "must not be repeated")}");
        _fields[name] = field;
    }

    /// <summary>
    /// All samples, row group by row group (only one row group's data in memory at a time), each sample's big
    /// values read when it is reached: a caller that returns each sample to <paramref name="pool"/> before taking
    /// the next gets the same arrays back, still in the CPU cache.
    /// </summary>
    public IEnumerable<Sample> ReadAll(BlobPool? pool = null)
    {
        for (var g = 0; g < RowGroupCount; g++)
        {
            foreach (var s in ReadRows(g, pool))
                yield return s;
        }
    }

    /// <summary>Just the split of each row in a row group (cheap: one small column).</summary>
    public string[] ReadSplits(int rowGroup) =>
        ParquetFile.Guard(Path, $"row group {rowGroup}", () =>
        {
            lock (_parquet)
                return Strings(_parquet.OpenRowGroupReader(rowGroup), rowGroup, SampleColumns.Split);
        });

    /// <summary>One row group's samples; their big arrays come from <paramref name="pool"/> when given (return them there when done).</summary>
    public IReadOnlyList<Sample> ReadRowGroup(int rowGroup, BlobPool? pool = null) => ReadRows(rowGroup, pool).ToList();

    /// <summary>
    /// A row group's samples in order: its small columns and the layout of its big ones are read and checked
    /// first (a damaged page fails before any row), then each row's big values as the row is reached. Several
    /// threads may read row groups of one reader at once (e.g. all of a dataset's row groups shared out, so that
    /// no thread is left alone on the last shard): Parquet.Net's part is serialized, the big values are
    /// positional reads of the file.
    /// </summary>
    public IEnumerable<Sample> ReadRows(int rowGroup, BlobPool? pool = null)
    {
        var where = $"row group {rowGroup}";
        var rows = ParquetFile.Guard(Path, where, () => Open(rowGroup, pool));
        for (var i = 0; i < rows.Count; i++)
            yield return ParquetFile.Guard(Path, where, () => rows.Sample(i));
    }

    private GroupRows Open(int rowGroup, BlobPool? pool)
    {
        // Parquet.Net reads through one stream and its position: one thread at a time. The big columns' pages are
        // read by position, decompressed and checked outside the lock.
        ParquetRowGroupReader group;
        (string[] VideoIds, int[] StartFrames, float[] Fps, int[] Widths, int[] Heights, int[][] Offsets, string[] Sources, string[] Methods, string[] Qualities, string[] Splits) small;
        lock (_parquet)
        {
            group = _parquet.OpenRowGroupReader(rowGroup);
            small = (Strings(group, rowGroup, SampleColumns.VideoId),
                Values<int>(group, rowGroup, SampleColumns.StartFrame),
                Values<float>(group, rowGroup, SampleColumns.Fps),
                Values<int>(group, rowGroup, SampleColumns.Width),
                Values<int>(group, rowGroup, SampleColumns.Height),
                Int32Lists(group, rowGroup, SampleColumns.TargetOffsets),
                Strings(group, rowGroup, SampleColumns.SourceUri),
                Strings(group, rowGroup, SampleColumns.FlowMethod),
                Strings(group, rowGroup, SampleColumns.Quality),
                Strings(group, rowGroup, SampleColumns.Split));
        }
        BlobColumn<T> Locked<T>(string name, Func<T[][]> read) where T : unmanaged
        {
            lock (_parquet)
                return BlobColumn<T>.Of(name, read());
        }
        var images = Blobs<byte>(group, rowGroup, SampleColumns.Image, pool)
            ?? Locked(SampleColumns.Image, () => Bytes(group, rowGroup, SampleColumns.Image));
        var volumes = Blobs<Half>(group, rowGroup, SampleColumns.SpectralVolume, pool)
            ?? Locked(SampleColumns.SpectralVolume, () => Halves(group, rowGroup, SampleColumns.SpectralVolume, pool));
        var targets = Blobs<byte>(group, rowGroup, SampleColumns.TargetFrames, pool)
            ?? Locked(SampleColumns.TargetFrames, () => Bytes(group, rowGroup, SampleColumns.TargetFrames));
        return new GroupRows(this, rowGroup, small.VideoIds, small.StartFrames, small.Fps, small.Widths, small.Heights,
            images, volumes, targets, small.Offsets, small.Sources, small.Methods, small.Qualities, small.Splits);
    }

    /// <summary>One row group's columns, from which each row becomes a checked sample.</summary>
    private sealed record GroupRows(ShardReader Reader, int RowGroup, string[] VideoIds, int[] StartFrames, float[] Fps, int[] Widths, int[] Heights,
        BlobColumn<byte> Images, BlobColumn<Half> Volumes, BlobColumn<byte> Targets, int[][] Offsets,
        string[] Sources, string[] Methods, string[] Qualities, string[] Splits)
    {
        public int Count => VideoIds.Length;

        public Sample Sample(int i)
        {
            var where = $"row group {RowGroup}, row {i}";
            SampleQuality quality;
            try
            {
                quality = ShardSchema.QualityFromJson(Qualities[i]);
            }
            catch (JsonException e)
            {
                throw new ParquetFormatException(Reader.Path, $"{where}: quality is not valid JSON ({e.Message})", e);
            }
            var sample = new Sample(VideoIds[i], StartFrames[i], Fps[i], Widths[i], Heights[i], Images.Take(i),
                Volumes.Take(i), Targets.Take(i), Offsets[i],
                Sources[i], Methods[i], quality, Splits[i]);
            try
            {
                ShardSchema.Validate(sample);
            }
            catch (ArgumentException e)
            {
                throw new ParquetFormatException(Reader.Path, $"{where}: {e.Message}", e);
            }
            return sample;
        }
    }

    /// <summary>A big binary column read straight from the file, when its chunk has the shape <see cref="DirectBlobColumn"/> reads.</summary>
    private BlobColumn<T>? Blobs<T>(ParquetRowGroupReader group, int rowGroup, string name, BlobPool? pool) where T : unmanaged
    {
        var field = _fields[name];
        return DirectBlobColumn.TryOpen<T>(_file, group.GetMetadata(field)!, field, rowGroup, Rows(group), pool);
    }

    /// <summary>fp16 values through Parquet.Net's read (uninitialized first: every element is overwritten, so zeroing would be a wasted pass).</summary>
    private Half[][] Halves(ParquetRowGroupReader group, int rowGroup, string name, BlobPool? pool)
    {
        var bytes = Bytes(group, rowGroup, name);
        var result = new Half[bytes.Length][];
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i].Length % 2 != 0)
                throw new ParquetFormatException(Path, $"row group {rowGroup}, row {i}: {name} has an odd byte count {bytes[i].Length} (fp16 expected)");
            result[i] = pool?.Rent<Half>(bytes[i].Length / 2) ?? GC.AllocateUninitializedArray<Half>(bytes[i].Length / 2);
            bytes[i].AsSpan().CopyTo(MemoryMarshal.AsBytes(result[i].AsSpan()));
        }
        return result;
    }

    private static int Rows(ParquetRowGroupReader group) => checked((int)group.RowCount);

    private T[] Values<T>(ParquetRowGroupReader group, int rowGroup, string name) where T : struct
    {
        var field = _fields[name];
        var result = new T[Rows(group)];
        if (!field.IsNullable)
        {
            ParquetFile.Wait(() => group.ReadAsync<T>(field, result.AsMemory(), null, default).AsTask());
            return result;
        }
        // Files from DuckDB mark every column optional: read nullable, refuse actual nulls.
        var nullable = new T?[result.Length];
        ParquetFile.Wait(() => group.ReadAsync<T>(field, nullable.AsMemory(), null, default).AsTask());
        for (var i = 0; i < result.Length; i++)
            result[i] = nullable[i] ?? throw Null(rowGroup, i, name);
        return result;
    }

    /// <summary>
    /// A binary column as arrays. Read raw: Parquet.Net's <c>byte[]</c> overload reads the same raw values (each
    /// already a fresh array) and then copies every one again, which for our megabyte blobs doubled the read's allocations.
    /// </summary>
    private byte[][] Bytes(ParquetRowGroupReader group, int rowGroup, string name)
    {
        var field = _fields[name];
        var rows = Rows(group);
        var values = new ReadOnlyMemory<byte>[rows];
        var definition = field.MaxDefinitionLevel > 0 ? new int[rows] : null;
        Memory<int>? levels = null; // not `definition`: a null array converts to an empty buffer, not to "none"
        if (definition != null)
            levels = definition;
        ParquetFile.Wait(() => group.ReadRawAsync<ReadOnlyMemory<byte>>(field, values, levels, null, default).AsTask());
        var result = new byte[rows][];
        for (int i = 0, next = 0; i < rows; i++)
        {
            if (definition != null && definition[i] < field.MaxDefinitionLevel)
                throw Null(rowGroup, i, name);
            result[i] = OwnArray(values[next++]);
        }
        return result;
    }

    /// <summary>The array behind a value when the value is all of it (as Parquet.Net hands them out), else a copy.</summary>
    private static byte[] OwnArray(ReadOnlyMemory<byte> value) =>
        MemoryMarshal.TryGetArray(value, out var segment) && segment.Array is { } array && segment.Offset == 0 && segment.Count == array.Length
            ? array
            : value.ToArray();

    private string[] Strings(ParquetRowGroupReader group, int rowGroup, string name)
    {
        var field = _fields[name];
        if (field.ClrType != typeof(ReadOnlyMemory<char>))
            throw new ParquetFormatException(Path, $"column '{name}' is binary, expected a UTF-8 string column");
        var values = new string?[Rows(group)];
        ParquetFile.Wait(() => group.ReadAsync(field, values.AsMemory(), null, default).AsTask());
        var result = new string[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            result[i] = values[i] ?? throw Null(rowGroup, i, name);
            // Parquet.Net decodes invalid UTF-8 to U+FFFD; none of our strings holds one, so it marks damage.
            if (result[i].Contains('\uFFFD'))
                throw new ParquetFormatException(Path, $"row group {rowGroup}, row {i}: column '{name}' is not valid UTF-8");
        }
        return result;
    }

    private int[][] Int32Lists(ParquetRowGroupReader group, int rowGroup, string name)
    {
        var lists = ParquetFile.ReadInt32Lists(Path, group, rowGroup, _fields[name]);
        var result = new int[lists.Length][];
        for (var i = 0; i < lists.Length; i++)
            result[i] = lists[i] ?? throw Null(rowGroup, i, name);
        return result;
    }

    private ParquetFormatException Null(int rowGroup, int row, string name) =>
        new(Path, $"row group {rowGroup}, row {row}: column '{name}' is null");

    public void Dispose() => _file.Dispose();
}
