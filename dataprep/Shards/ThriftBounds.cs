namespace GidCluster.Dataprep.Shards;

/// <summary>
/// A bounds check of Thrift compact-protocol bytes (the footer, a page header) before Parquet.Net decodes them.
/// It decodes nothing: it walks the structure and refuses a list, map or string whose size exceeds the bytes
/// left, nesting deeper than any Parquet struct, or an unknown type. Measured without it, Parquet.Net sized a
/// list from a corrupted count (2 GB allocated from a 27 KB file) or looped past the end of the footer for
/// minutes. Reports the top-level struct's i32 fields 1–3 (a page header's type and sizes).
/// </summary>
internal static class ThriftBounds
{
    private const int MaxDepth = 32;

    /// <summary>Thrown when the bytes end before the structure does (the caller may retry with more bytes).</summary>
    public sealed class Truncated : Exception;

    /// <summary>Checks one struct at the start of <paramref name="data"/>; returns the bytes it spans.</summary>
    public static int CheckStruct(ReadOnlySpan<byte> data, Span<int> fields)
    {
        var at = 0;
        fields.Fill(-1);
        Struct(data, ref at, 0, fields);
        return at;
    }

    private static void Struct(ReadOnlySpan<byte> data, ref int at, int depth, Span<int> fields)
    {
        if (depth > MaxDepth)
            throw new InvalidDataException($"nested deeper than {MaxDepth}");
        short id = 0;
        while (true)
        {
            var header = Byte(data, ref at);
            if (header == 0)
                return;
            var type = header & 0x0F;
            var delta = header >> 4;
            id = delta == 0 ? (short)ZigZag(Varint(data, ref at)) : (short)(id + delta);
            if (depth == 0 && type == 5 && id >= 1 && id <= fields.Length)
            {
                fields[id - 1] = (int)ZigZag(Varint(data, ref at));
                continue;
            }
            Value(data, ref at, type, depth);
        }
    }

    private static void Value(ReadOnlySpan<byte> data, ref int at, int type, int depth)
    {
        switch (type)
        {
            case 1 or 2: // bool in a field header
                return;
            case 3:
                Byte(data, ref at);
                return;
            case 4 or 5 or 6:
                Varint(data, ref at);
                return;
            case 7:
                Skip(data, ref at, 8);
                return;
            case 8:
                Skip(data, ref at, Varint(data, ref at));
                return;
            case 9 or 10:
                {
                    var header = Byte(data, ref at);
                    var size = (ulong)(header >> 4);
                    if (size == 15)
                        size = Varint(data, ref at);
                    var element = header & 0x0F;
                    // Every element takes at least one byte (a bool in a list too): a larger count is corruption.
                    if (size > (ulong)(data.Length - at))
                        throw Short(data, at, size);
                    for (var i = 0UL; i < size; i++)
                        Element(data, ref at, element, depth);
                    return;
                }
            case 11:
                {
                    var size = Varint(data, ref at);
                    if (size == 0)
                        return;
                    var kinds = Byte(data, ref at);
                    if (size > (ulong)(data.Length - at))
                        throw Short(data, at, size);
                    for (var i = 0UL; i < size; i++)
                    {
                        Element(data, ref at, kinds >> 4, depth);
                        Element(data, ref at, kinds & 0x0F, depth);
                    }
                    return;
                }
            case 12:
                Struct(data, ref at, depth + 1, []);
                return;
            default:
                throw new InvalidDataException($"unknown Thrift type {type} at byte {at}");
        }
    }

    private static void Element(ReadOnlySpan<byte> data, ref int at, int type, int depth)
    {
        if (type is 1 or 2)
            Byte(data, ref at); // a bool element is a whole byte
        else
            Value(data, ref at, type, depth + 1);
    }

    private static Exception Short(ReadOnlySpan<byte> data, int at, ulong size) =>
        data.Length - at < 4096 && size < 1 << 20 ? new Truncated() : new InvalidDataException($"a collection of {size} elements at byte {at} exceeds the bytes left");

    private static byte Byte(ReadOnlySpan<byte> data, ref int at) =>
        at < data.Length ? data[at++] : throw new Truncated();

    private static void Skip(ReadOnlySpan<byte> data, ref int at, ulong count)
    {
        if (count > (ulong)(data.Length - at))
            throw count > int.MaxValue ? new InvalidDataException($"a {count}-byte field at byte {at}") : new Truncated();
        at += (int)count;
    }

    /// <summary>An unsigned LEB128 varint (also Snappy's length preamble).</summary>
    public static ulong Varint(ReadOnlySpan<byte> data, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = Byte(data, ref at);
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return value;
        }
        throw new InvalidDataException($"a varint longer than 10 bytes at byte {at}");
    }

    private static long ZigZag(ulong v) => (long)(v >> 1) ^ -(long)(v & 1);
}
