using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Parquet.Meta;
using Parquet.Schema;

namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Reads one shape of column chunk straight into the arrays handed out: a required, unrepeated BYTE_ARRAY column,
/// PLAIN, in v1 data pages only, uncompressed or Snappy (how <see cref="ShardWriter"/> writes the big binary
/// columns). Such a page is nothing but 4-byte lengths and the values' bytes. Uncompressed, the lengths are read
/// and checked first, and each value later, when its row is asked for, from the file into its own array (an fp16
/// volume directly into its <c>Half[]</c>): a caller that hands each sample's arrays back before the next keeps
/// reusing the same few, still in the CPU cache. Snappy, the page is read and decompressed into borrowed buffers
/// and each value copied once into its array. Parquet.Net's raw read of
/// the same chunks copied a page several times and every value into a fresh array: the uncompressed volumes read
/// at about a fifth of the rate, and the Snappy image and target frames (10% of the bytes) took 0.18–0.28 s per
/// gigabyte of shards, over half of the whole read (README: the data section). Any other shape, e.g. DuckDB's
/// optional columns or a dictionary page, returns null and is read by Parquet.Net.
/// </summary>
internal static class DirectBlobColumn
{
    private const int DataPageV1 = 0;

    /// <summary>One row group's chunk, its pages checked, or null when the chunk is not in the one shape read here.</summary>
    public static BlobColumn<T>? TryOpen<T>(ParquetFile file, ColumnChunk column, DataField field, int rowGroup, int rows, BlobPool? pool) where T : unmanaged
    {
        var chunk = column.MetaData;
        if (chunk == null || field.MaxDefinitionLevel != 0 || field.MaxRepetitionLevel != 0 || chunk.Type != Parquet.Meta.Type.BYTE_ARRAY
            || chunk.Codec is not (CompressionCodec.UNCOMPRESSED or CompressionCodec.SNAPPY) || chunk.DictionaryPageOffset is > 0
            || chunk.Encodings == null || chunk.Encodings.Any(e => e is not (Encoding.PLAIN or Encoding.RLE or Encoding.BIT_PACKED)))
            return null;
        var snappy = chunk.Codec == CompressionCodec.SNAPPY;
        var values = new BlobColumn<T>(file, field.Path.FirstPart ?? field.Name, rowGroup, rows, pool);
        var window = new byte[1 << 12];
        var fields = new int[3];
        var end = chunk.DataPageOffset + chunk.TotalCompressedSize;
        // Page bodies first, from the headers alone: a page of another kind sends the whole chunk to Parquet.Net.
        var bodies = new List<(long At, int Compressed, int Uncompressed)>();
        for (var at = chunk.DataPageOffset; at < end;)
        {
            var used = ParquetFile.PageHeader(file.Path, file.Handle, at, end, ref window, fields, () => $"row group {rowGroup}, column '{values.Name}', page header at {at}");
            var (type, uncompressed, compressed) = (fields[0], fields[1], fields[2]);
            if (type != DataPageV1 || (!snappy && compressed != uncompressed))
                return null;
            if (compressed < 0 || uncompressed < 0 || at + used + compressed > end)
                throw new ParquetFormatException(file.Path, $"row group {rowGroup}, column '{values.Name}': a page of {compressed} bytes at {at} runs past its column chunk (ends at {end})");
            bodies.Add((at + used, compressed, uncompressed));
            at += used + compressed;
        }
        foreach (var (at, compressed, uncompressed) in bodies)
        {
            if (snappy)
                values.ReadSnappyPage(at, compressed, uncompressed);
            else
                values.IndexPlainPage(at, compressed);
        }
        values.CheckCount();
        return values;
    }
}

/// <summary>
/// One row group's values of a big binary column, each taken once, by its row: already in an array (decompressed,
/// or read by Parquet.Net), or still in the file at a checked place, read when taken.
/// </summary>
internal sealed class BlobColumn<T> where T : unmanaged
{
    private static readonly int Size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
    private readonly ParquetFile? _file;
    private readonly int _rowGroup;
    private readonly int _rows;
    private readonly BlobPool? _pool;
    private readonly T[]?[] _arrays;
    private readonly long[] _at;
    private readonly int[] _bytes;
    private int _row;

    internal BlobColumn(ParquetFile? file, string name, int rowGroup, int rows, BlobPool? pool)
    {
        _file = file;
        Name = name;
        _rowGroup = rowGroup;
        _rows = rows;
        _pool = pool;
        _arrays = new T[rows][];
        _at = new long[rows];
        _bytes = new int[rows];
    }

    /// <summary>Values already read (by Parquet.Net).</summary>
    public static BlobColumn<T> Of(string name, T[][] arrays)
    {
        var column = new BlobColumn<T>(null, name, 0, arrays.Length, null);
        arrays.CopyTo(column._arrays, 0);
        return column;
    }

    public string Name { get; }

    /// <summary>Row <paramref name="row"/>'s value; the array is the caller's from here on (each row is taken once).</summary>
    public T[] Take(int row)
    {
        if (_arrays[row] is { } array)
        {
            _arrays[row] = null;
            return array;
        }
        if (_file == null || _at[row] == 0)
            throw new InvalidOperationException($"row {row} of column '{Name}' was taken already");
        var value = Rent(_bytes[row]);
        ParquetFile.ReadAt(_file.Path, _file.Handle, MemoryMarshal.AsBytes(value.AsSpan()), _at[row]);
        _at[row] = 0;
        return value;
    }

    /// <summary>An uncompressed page: each length read and checked, its value's place kept for <see cref="Take"/>.</summary>
    internal void IndexPlainPage(long at, int length)
    {
        Span<byte> prefix = stackalloc byte[4];
        for (var left = (long)length; left > 0;)
        {
            if (left < 4)
                throw Error("a page ends inside a value's length");
            ParquetFile.ReadAt(_file!.Path, _file.Handle, prefix, at);
            var n = BinaryPrimitives.ReadInt32LittleEndian(prefix);
            at += 4;
            left -= 4;
            Check(n, left);
            (_at[_row], _bytes[_row]) = (at, n);
            _row++;
            at += n;
            left -= n;
        }
    }

    /// <summary>A Snappy page: read and decompressed into buffers borrowed for the page, each value copied once into its array.</summary>
    internal void ReadSnappyPage(long at, int compressed, int uncompressed)
    {
        var input = ArrayPool<byte>.Shared.Rent(compressed);
        var output = ArrayPool<byte>.Shared.Rent(uncompressed);
        try
        {
            ParquetFile.ReadAt(_file!.Path, _file.Handle, input.AsSpan(0, compressed), at);
            int length;
            try
            {
                // The page header's size bounds the output (checked against the codec's own length at open).
                length = Snappier.Snappy.Decompress(input.AsSpan(0, compressed), output.AsSpan(0, uncompressed));
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException)
            {
                throw Error($"a Snappy page at {at} does not decompress ({e.Message})");
            }
            if (length != uncompressed)
                throw Error($"a Snappy page at {at} decompresses to {length} bytes, its header says {uncompressed}");
            ReadOnlySpan<byte> page = output.AsSpan(0, length);
            while (!page.IsEmpty)
            {
                if (page.Length < 4)
                    throw Error("a page ends inside a value's length");
                var n = BinaryPrimitives.ReadInt32LittleEndian(page);
                page = page[4..];
                Check(n, page.Length);
                var value = Rent(n);
                page[..n].CopyTo(MemoryMarshal.AsBytes(value.AsSpan()));
                _arrays[_row++] = value;
                page = page[n..];
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    internal void CheckCount()
    {
        if (_row != _rows)
            throw new ParquetFormatException(_file!.Path, $"row group {_rowGroup}: column '{Name}' holds {_row} values, the group {_rows} rows");
    }

    /// <summary>The next value's length, against what is left of its page, its element size and the group's rows.</summary>
    private void Check(int n, long left)
    {
        if (n < 0 || n > left)
            throw Error($"a value of {n} bytes does not fit the {left} bytes left in its page");
        if (n % Size != 0)
            throw Error($"{n} bytes is not a whole number of {Size}-byte elements");
        if (_row >= _rows)
            throw new ParquetFormatException(_file!.Path, $"row group {_rowGroup}: column '{Name}' holds more values than the group's {_rows} rows");
    }

    // Uninitialized: every byte is written over at once, so zeroing would be a wasted pass.
    private T[] Rent(int bytes) => _pool?.Rent<T>(bytes / Size) ?? GC.AllocateUninitializedArray<T>(bytes / Size);

    private ParquetFormatException Error(string problem) => new(_file!.Path, $"row group {_rowGroup}, row {_row}: column '{Name}': {problem}");
}
