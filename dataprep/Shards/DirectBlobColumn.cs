using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Parquet.Meta;
using Parquet.Schema;

namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Reads one shape of column chunk straight from the file into the arrays handed out: a required, unrepeated
/// BYTE_ARRAY column, uncompressed, PLAIN, in v1 data pages only (how <see cref="ShardWriter"/> writes the big
/// binary columns it leaves uncompressed). Such a page is nothing but 4-byte lengths and the values' bytes, so
/// each value is read once, from the file into its own array (an fp16 volume directly into its <c>Half[]</c>).
/// Parquet.Net's raw read of the same chunk copied the page into a buffer and every value into a fresh array,
/// and ran at about a fifth of the rate (README: the data section). Any other shape, e.g. DuckDB's optional
/// columns or a dictionary page, returns null and is read by Parquet.Net.
/// </summary>
internal static class DirectBlobColumn
{
    private const int DataPageV1 = 0;

    /// <summary>The values of one row group's chunk, or null when the chunk is not in the one shape read here.</summary>
    public static T[][]? TryRead<T>(ParquetFile file, ColumnChunk column, DataField field, int rowGroup, int rows, BlobPool? pool) where T : unmanaged
    {
        var chunk = column.MetaData;
        if (chunk == null || field.MaxDefinitionLevel != 0 || field.MaxRepetitionLevel != 0 || chunk.Type != Parquet.Meta.Type.BYTE_ARRAY
            || chunk.Codec != CompressionCodec.UNCOMPRESSED || chunk.DictionaryPageOffset is > 0
            || chunk.Encodings == null || chunk.Encodings.Any(e => e is not (Encoding.PLAIN or Encoding.RLE or Encoding.BIT_PACKED)))
            return null;
        var name = field.Path.FirstPart;
        var stream = file.Stream;
        var window = new byte[1 << 12];
        var fields = new int[3];
        var end = chunk.DataPageOffset + chunk.TotalCompressedSize;
        // Page bodies first, from the headers alone: a page of another kind sends the whole chunk to Parquet.Net.
        var bodies = new List<(long At, int Length)>();
        for (var at = chunk.DataPageOffset; at < end;)
        {
            var used = ParquetFile.PageHeader(file.Path, stream, at, end, ref window, fields, () => $"row group {rowGroup}, column '{name}', page header at {at}");
            var (type, uncompressed, compressed) = (fields[0], fields[1], fields[2]);
            if (type != DataPageV1 || compressed != uncompressed)
                return null;
            if (compressed < 0 || at + used + compressed > end)
                throw new ParquetFormatException(file.Path, $"row group {rowGroup}, column '{name}': a page of {compressed} bytes at {at} runs past its column chunk (ends at {end})");
            bodies.Add((at + used, compressed));
            at += used + compressed;
        }
        var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var values = new T[rows][];
        var row = 0;
        Span<byte> prefix = stackalloc byte[4];
        foreach (var (at, length) in bodies)
        {
            stream.Position = at;
            for (var left = (long)length; left > 0;)
            {
                string Where() => $"row group {rowGroup}, row {row}: column '{name}'";
                if (left < 4)
                    throw new ParquetFormatException(file.Path, $"{Where()}: a page ends inside a value's length");
                stream.ReadExactly(prefix);
                var n = BinaryPrimitives.ReadInt32LittleEndian(prefix);
                left -= 4;
                if (n < 0 || n > left)
                    throw new ParquetFormatException(file.Path, $"{Where()}: a value of {n} bytes does not fit the {left} bytes left in its page");
                if (n % size != 0)
                    throw new ParquetFormatException(file.Path, $"{Where()}: {n} bytes is not a whole number of {size}-byte elements");
                if (row >= rows)
                    throw new ParquetFormatException(file.Path, $"row group {rowGroup}: column '{name}' holds more values than the group's {rows} rows");
                // Uninitialized: every byte is read over at once, so zeroing would be a wasted pass.
                var value = pool?.Rent<T>(n / size) ?? GC.AllocateUninitializedArray<T>(n / size);
                stream.ReadExactly(MemoryMarshal.AsBytes(value.AsSpan()));
                values[row++] = value;
                left -= n;
            }
        }
        if (row != rows)
            throw new ParquetFormatException(file.Path, $"row group {rowGroup}: column '{name}' holds {row} values, the group {rows} rows");
        return values;
    }
}
