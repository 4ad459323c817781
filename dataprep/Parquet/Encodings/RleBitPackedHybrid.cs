namespace GidCluster.Dataprep.Parquet.Encodings;

/// <summary>
/// The RLE / bit-packing hybrid (Parquet Encodings.md, "RLE = 3"), used for definition and
/// repetition levels and for dictionary indices.
/// <code>
/// encoded-data := run*
/// run          := bit-packed-run | rle-run
/// bit-packed-run := varint((groups &lt;&lt; 1) | 1), groups × 8 values packed LSB-first in bit-width bits
/// rle-run      := varint(count &lt;&lt; 1), the value in ceil(bit-width / 8) little-endian bytes
/// </code>
/// Levels in a v1 data page are prefixed by their byte length as a 4-byte little-endian int;
/// dictionary indices are prefixed by one byte holding the bit width.
/// </summary>
internal static class RleBitPackedHybrid
{
    /// <summary>Bits needed to store values 0..maxValue.</summary>
    public static int BitWidth(int maxValue) => maxValue == 0 ? 0 : 32 - int.LeadingZeroCount(maxValue);

    /// <summary>Decodes exactly <c>dest.Length</c> values; throws when the runs end early or a value exceeds the bit width.</summary>
    public static void Decode(ReadOnlySpan<byte> data, int bitWidth, Span<int> dest)
    {
        if (bitWidth is < 0 or > 32)
            throw new CorruptDataException($"RLE bit width {bitWidth} is out of range 0..32");
        var pos = 0;
        var written = 0;
        var valueBytes = (bitWidth + 7) / 8;
        while (written < dest.Length)
        {
            if (pos >= data.Length)
                throw new CorruptDataException($"RLE data ends after {written} of {dest.Length} values");
            var header = ReadVarint(data, ref pos);
            if ((header & 1) == 0)
            {
                var count = header >> 1;
                if (count == 0 || count > (ulong)(dest.Length - written))
                    throw new CorruptDataException($"RLE run of {count} values does not fit the {dest.Length - written} values left");
                if (pos + valueBytes > data.Length)
                    throw new CorruptDataException("RLE run value is truncated");
                uint value = 0;
                for (var i = 0; i < valueBytes; i++)
                    value |= (uint)data[pos + i] << (8 * i);
                pos += valueBytes;
                if (bitWidth < 32 && value >> bitWidth != 0)
                    throw new CorruptDataException($"RLE value {value} exceeds bit width {bitWidth}");
                dest.Slice(written, (int)count).Fill((int)value);
                written += (int)count;
            }
            else
            {
                var groups = header >> 1;
                if (groups == 0 || groups > (ulong)data.Length)
                    throw new CorruptDataException($"bit-packed run of {groups} groups is not plausible");
                var values = (long)groups * 8;
                var bytes = (long)groups * bitWidth; // 8 values × bitWidth bits = bitWidth bytes per group
                // The last run may be padded past the values the page holds, and its bytes may be cut short.
                var take = (int)Math.Min(values, dest.Length - written);
                var needBytes = ((long)take * bitWidth + 7) / 8;
                if (pos + needBytes > data.Length)
                    throw new CorruptDataException("bit-packed run is truncated");
                Unpack(data[pos..], bitWidth, dest.Slice(written, take));
                written += take;
                pos += (int)Math.Min(bytes, data.Length - pos);
            }
        }
    }

    private static void Unpack(ReadOnlySpan<byte> data, int bitWidth, Span<int> dest)
    {
        if (bitWidth == 0)
        {
            dest.Clear();
            return;
        }
        long bit = 0;
        var mask = bitWidth == 32 ? ulong.MaxValue >> 32 : (1UL << bitWidth) - 1;
        for (var i = 0; i < dest.Length; i++, bit += bitWidth)
        {
            var byteIndex = (int)(bit >> 3);
            var shift = (int)(bit & 7);
            ulong word = 0;
            var n = Math.Min(8, data.Length - byteIndex);
            for (var b = 0; b < n; b++)
                word |= (ulong)data[byteIndex + b] << (8 * b);
            dest[i] = (int)((word >> shift) & mask);
        }
    }

    /// <summary>Encodes values as RLE runs where at least 8 repeat, bit-packed groups of 8 elsewhere (only the final group is zero-padded).</summary>
    public static void Encode(ReadOnlySpan<int> values, int bitWidth, Stream output)
    {
        var valueBytes = (bitWidth + 7) / 8;
        var i = 0;
        while (i < values.Length)
        {
            var run = RunLength(values, i);
            if (run >= 8 || bitWidth == 0)
            {
                WriteVarint(output, (ulong)run << 1);
                for (var b = 0; b < valueBytes; b++)
                    output.WriteByte((byte)(values[i] >> (8 * b)));
                i += run;
                continue;
            }
            var start = i;
            while (i < values.Length && RunLength(values, i) < 8)
                i = Math.Min(i + 8, values.Length);
            var count = i - start;
            var groups = (count + 7) / 8;
            WriteVarint(output, ((ulong)groups << 1) | 1);
            var packed = new byte[groups * bitWidth];
            long bit = 0;
            for (var k = 0; k < count; k++, bit += bitWidth)
            {
                var v = (ulong)(uint)values[start + k] << (int)(bit & 7);
                var idx = (int)(bit >> 3);
                for (var b = 0; v != 0; b++, v >>= 8)
                    packed[idx + b] |= (byte)v;
            }
            output.Write(packed);
        }
    }

    private static int RunLength(ReadOnlySpan<int> values, int i)
    {
        var run = 1;
        while (i + run < values.Length && values[i + run] == values[i])
            run++;
        return run;
    }

    internal static ulong ReadVarint(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length)
                throw new CorruptDataException("varint is truncated");
            var b = data[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return result;
        }
        throw new CorruptDataException("varint longer than 9 bytes");
    }

    private static void WriteVarint(Stream output, ulong value)
    {
        while (value >= 0x80)
        {
            output.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        output.WriteByte((byte)value);
    }
}
