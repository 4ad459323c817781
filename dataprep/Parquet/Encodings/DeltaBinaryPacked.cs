namespace GidCluster.Dataprep.Parquet.Encodings;

/// <summary>
/// DELTA_BINARY_PACKED (Encodings.md, "Delta Encoding = 5") for INT32/INT64: read only (DuckDB writes it with PARQUET_VERSION V2).
/// <code>
/// page   := header block*
/// header := varint(values per block) varint(miniblocks per block) varint(total values) zigzag-varint(first value)
/// block  := zigzag-varint(min delta) byte(bit width)×miniblocks miniblock*
/// miniblock := (values per miniblock) deltas − min delta, bit-packed LSB first at that width
/// </code>
/// Arithmetic wraps at the type's width; miniblocks after the last value are absent.
/// </summary>
internal static class DeltaBinaryPacked
{
    /// <summary>Decodes exactly <paramref name="count"/> values as 64-bit integers; returns the bytes consumed.</summary>
    public static int Decode(ReadOnlySpan<byte> data, int count, Span<long> dest)
    {
        var pos = 0;
        var blockSize = RleBitPackedHybrid.ReadVarint(data, ref pos);
        var miniblocks = RleBitPackedHybrid.ReadVarint(data, ref pos);
        var total = RleBitPackedHybrid.ReadVarint(data, ref pos);
        var first = ZigZag(RleBitPackedHybrid.ReadVarint(data, ref pos));
        if (blockSize == 0 || blockSize % 128 != 0 || blockSize > 1 << 20 || miniblocks == 0 || blockSize % miniblocks != 0 || blockSize / miniblocks % 32 != 0)
            throw new CorruptDataException($"delta encoding header is invalid (block {blockSize}, miniblocks {miniblocks})");
        if (total != (ulong)count)
            throw new CorruptDataException($"delta encoding holds {total} values, the page needs {count}");
        if (count == 0)
            return pos;
        var perMiniblock = (int)(blockSize / miniblocks);
        dest[0] = first;
        var n = 1;
        var previous = first;
        while (n < count)
        {
            var minDelta = ZigZag(RleBitPackedHybrid.ReadVarint(data, ref pos));
            if (data.Length - pos < (int)miniblocks)
                throw new CorruptDataException("delta encoding block is truncated (bit widths)");
            var widths = data.Slice(pos, (int)miniblocks);
            pos += (int)miniblocks;
            for (var m = 0; m < widths.Length && n < count; m++)
            {
                int width = widths[m];
                if (width > 64)
                    throw new CorruptDataException($"delta encoding miniblock bit width {width} exceeds 64");
                var bytes = perMiniblock * width / 8;
                if (data.Length - pos < bytes)
                    throw new CorruptDataException("delta encoding miniblock is truncated");
                var block = data.Slice(pos, bytes);
                for (var j = 0; j < perMiniblock && n < count; j++)
                {
                    var delta = ReadBits(block, (long)j * width, width);
                    previous = unchecked(previous + minDelta + (long)delta);
                    dest[n++] = previous;
                }
                pos += bytes;
            }
        }
        return pos;
    }

    private static long ZigZag(ulong u) => (long)(u >> 1) ^ -(long)(u & 1);

    private static ulong ReadBits(ReadOnlySpan<byte> data, long bit, int width)
    {
        ulong result = 0;
        var got = 0;
        while (got < width)
        {
            var index = (int)(bit >> 3);
            var offset = (int)(bit & 7);
            var take = Math.Min(8 - offset, width - got);
            result |= (ulong)((data[index] >> offset) & ((1 << take) - 1)) << got;
            got += take;
            bit += take;
        }
        return result;
    }
}

/// <summary>
/// DELTA_LENGTH_BYTE_ARRAY (Encodings.md, "= 6"): the lengths DELTA_BINARY_PACKED, then all the bytes back to back. Read only.
/// </summary>
internal static class DeltaLengthByteArray
{
    public static int Decode(ReadOnlySpan<byte> data, int count, byte[][] dest, int offset)
    {
        var lengths = new long[count];
        var pos = DeltaBinaryPacked.Decode(data, count, lengths);
        for (var i = 0; i < count; i++)
        {
            var length = lengths[i];
            if (length < 0 || length > data.Length - pos)
                throw new CorruptDataException($"DELTA_LENGTH_BYTE_ARRAY value {i} of {count}: length {length} exceeds the {data.Length - pos} bytes left");
            dest[offset + i] = data.Slice(pos, (int)length).ToArray();
            pos += (int)length;
        }
        return pos;
    }
}

/// <summary>
/// BYTE_STREAM_SPLIT (Encodings.md, "= 9"): byte k of value i is at <c>data[k·N + i]</c> (N values of K bytes). Read only.
/// </summary>
internal static class ByteStreamSplit
{
    public static void Decode(ReadOnlySpan<byte> data, int count, int width, Span<byte> dest)
    {
        if ((long)count * width > data.Length)
            throw new CorruptDataException($"BYTE_STREAM_SPLIT needs {(long)count * width} bytes for {count} values, page has {data.Length}");
        for (var i = 0; i < count; i++)
        {
            for (var k = 0; k < width; k++)
                dest[i * width + k] = data[k * count + i];
        }
    }
}
