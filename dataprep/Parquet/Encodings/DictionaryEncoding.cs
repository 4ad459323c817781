namespace GidCluster.Dataprep.Parquet.Encodings;

/// <summary>
/// Dictionary encoding (Encodings.md, "Dictionary Encoding (PLAIN_DICTIONARY = 2 and RLE_DICTIONARY = 8)"):
/// the chunk's dictionary page holds the distinct values PLAIN-encoded; data pages hold indices into it.
/// <code>
/// data page values := bit-width (1 byte), RLE/bit-packed hybrid indices (no length prefix)
/// </code>
/// Read only: DuckDB and most writers use it by default; our writer keeps PLAIN (large unique blobs).
/// </summary>
internal static class DictionaryEncoding
{
    /// <summary>Looks up <paramref name="count"/> indices into <paramref name="dictionary"/>, writing values into <paramref name="dest"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> data, int count, Array dictionary, Array dest, int offset)
    {
        if (count == 0)
            return;
        if (data.Length < 1)
            throw new CorruptDataException("dictionary-encoded page has no bit width");
        var bitWidth = data[0];
        if (bitWidth > 32)
            throw new CorruptDataException($"dictionary index bit width {bitWidth} exceeds 32");
        var indices = new int[count];
        RleBitPackedHybrid.Decode(data[1..], bitWidth, indices);
        var size = dictionary.Length;
        foreach (var index in indices)
        {
            if ((uint)index >= (uint)size)
                throw new CorruptDataException($"dictionary index {index} is outside the dictionary of {size} values");
        }
        // Byte arrays share the dictionary's instances: no copy per row, so memory stays bounded by the file.
        switch (dictionary)
        {
            case int[] d: Gather(d, indices, (int[])dest, offset); break;
            case long[] d: Gather(d, indices, (long[])dest, offset); break;
            case float[] d: Gather(d, indices, (float[])dest, offset); break;
            case double[] d: Gather(d, indices, (double[])dest, offset); break;
            case bool[] d: Gather(d, indices, (bool[])dest, offset); break;
            case byte[][] d: Gather(d, indices, (byte[][])dest, offset); break;
            default: throw new CorruptDataException($"unsupported dictionary value type {dictionary.GetType().Name}");
        }
    }

    private static void Gather<T>(T[] dictionary, int[] indices, T[] dest, int offset)
    {
        for (var i = 0; i < indices.Length; i++)
            dest[offset + i] = dictionary[indices[i]];
    }
}
