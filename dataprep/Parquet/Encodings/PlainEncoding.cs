using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace GidCluster.Dataprep.Parquet.Encodings;

/// <summary>
/// PLAIN encoding (Encodings.md, "Plain = 0"): values back to back.
/// <code>
/// BOOLEAN     bit-packed, LSB first, 1 bit per value
/// INT32/INT64 4/8 bytes little-endian
/// FLOAT/DOUBLE IEEE 754, 4/8 bytes little-endian
/// BYTE_ARRAY  4-byte little-endian length, then the bytes
/// </code>
/// </summary>
internal static class PlainEncoding
{
    /// <summary>Decodes <paramref name="count"/> values into <paramref name="dest"/> at <paramref name="offset"/>; returns bytes consumed.</summary>
    public static int Decode(PhysicalType type, ReadOnlySpan<byte> data, int count, Array dest, int offset)
    {
        switch (type)
        {
            case PhysicalType.Int32:
                return Fixed<int>(data, count, ((int[])dest).AsSpan(offset, count));
            case PhysicalType.Int64:
                return Fixed<long>(data, count, ((long[])dest).AsSpan(offset, count));
            case PhysicalType.Float:
                return Fixed<float>(data, count, ((float[])dest).AsSpan(offset, count));
            case PhysicalType.Double:
                return Fixed<double>(data, count, ((double[])dest).AsSpan(offset, count));
            case PhysicalType.Boolean:
                {
                    var bytes = (count + 7) / 8;
                    if (data.Length < bytes)
                        throw new CorruptDataException($"PLAIN BOOLEAN needs {bytes} bytes for {count} values, page has {data.Length}");
                    var bools = (bool[])dest;
                    for (var i = 0; i < count; i++)
                        bools[offset + i] = (data[i >> 3] >> (i & 7) & 1) != 0;
                    return bytes;
                }
            case PhysicalType.ByteArray:
                {
                    var arrays = (byte[][])dest;
                    var pos = 0;
                    for (var i = 0; i < count; i++)
                    {
                        if (data.Length - pos < 4)
                            throw new CorruptDataException($"PLAIN BYTE_ARRAY value {i} of {count}: length is truncated");
                        var length = BinaryPrimitives.ReadInt32LittleEndian(data[pos..]);
                        pos += 4;
                        if (length < 0 || length > data.Length - pos)
                            throw new CorruptDataException($"PLAIN BYTE_ARRAY value {i} of {count}: length {length} exceeds the {data.Length - pos} bytes left in the page");
                        arrays[offset + i] = data.Slice(pos, length).ToArray();
                        pos += length;
                    }
                    return pos;
                }
            default:
                throw new CorruptDataException($"PLAIN decoding of {type} is not supported");
        }
    }

    private static int Fixed<T>(ReadOnlySpan<byte> data, int count, Span<T> dest) where T : unmanaged
    {
        var bytes = (long)count * Marshal.SizeOf<T>();
        if (data.Length < bytes)
            throw new CorruptDataException($"PLAIN {typeof(T).Name} needs {bytes} bytes for {count} values, page has {data.Length}");
        // Parquet is little-endian, as is every platform .NET runs this project on.
        MemoryMarshal.Cast<byte, T>(data[..(int)bytes]).CopyTo(dest);
        return (int)bytes;
    }

    /// <summary>Encodes values [start, start+count) of <paramref name="values"/>.</summary>
    public static void Encode(PhysicalType type, Array values, int start, int count, Stream output)
    {
        switch (type)
        {
            case PhysicalType.Int32:
                output.Write(MemoryMarshal.AsBytes(((int[])values).AsSpan(start, count)));
                return;
            case PhysicalType.Int64:
                output.Write(MemoryMarshal.AsBytes(((long[])values).AsSpan(start, count)));
                return;
            case PhysicalType.Float:
                output.Write(MemoryMarshal.AsBytes(((float[])values).AsSpan(start, count)));
                return;
            case PhysicalType.Double:
                output.Write(MemoryMarshal.AsBytes(((double[])values).AsSpan(start, count)));
                return;
            case PhysicalType.Boolean:
                {
                    var bools = (bool[])values;
                    var packed = new byte[(count + 7) / 8];
                    for (var i = 0; i < count; i++)
                    {
                        if (bools[start + i])
                            packed[i >> 3] |= (byte)(1 << (i & 7));
                    }
                    output.Write(packed);
                    return;
                }
            case PhysicalType.ByteArray:
                {
                    Span<byte> length = stackalloc byte[4];
                    var arrays = (byte[][])values;
                    for (var i = 0; i < count; i++)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(length, arrays[start + i].Length);
                        output.Write(length);
                        output.Write(arrays[start + i]);
                    }
                    return;
                }
            default:
                throw new NotSupportedException($"PLAIN encoding of {type} is not supported by the writer");
        }
    }

    /// <summary>Encoded size of one value (for page and row-group sizing).</summary>
    public static long EncodedSize(PhysicalType type, Array values, int index) => type switch
    {
        PhysicalType.Int32 or PhysicalType.Float => 4,
        PhysicalType.Int64 or PhysicalType.Double => 8,
        PhysicalType.Boolean => 1,
        PhysicalType.ByteArray => 4 + ((byte[][])values)[index].Length,
        _ => 8,
    };
}
