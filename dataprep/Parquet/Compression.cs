namespace GidCluster.Dataprep.Parquet;

/// <summary>
/// Page codecs: UNCOMPRESSED and SNAPPY (raw Snappy blocks, no framing, as Parquet specifies).
/// Decompression checks the declared sizes against each other and against a limit before allocating.
/// </summary>
internal static class Compression
{
    /// <summary>
    /// Snappy's densest element is a 2-byte-offset copy of 64 bytes in 3 bytes, so a valid block never
    /// expands more than ~22×; anything beyond is corrupt and refused before allocating.
    /// </summary>
    private const int MaxSnappyExpansion = 24;

    public static byte[] Compress(CompressionCodec codec, byte[] data) => codec switch
    {
        CompressionCodec.Uncompressed => data,
        CompressionCodec.Snappy => IronSnappy.Snappy.Encode(data),
        _ => throw new NotSupportedException($"the writer does not support codec {codec}"),
    };

    public static byte[] Decompress(CompressionCodec codec, byte[] data, int uncompressedSize, long maxSize)
    {
        if (uncompressedSize < 0 || uncompressedSize > maxSize)
            throw new CorruptDataException($"page claims {uncompressedSize} uncompressed bytes (limit {maxSize})");
        switch (codec)
        {
            case CompressionCodec.Uncompressed:
                if (data.Length != uncompressedSize)
                    throw new CorruptDataException($"uncompressed page holds {data.Length} bytes but its header says {uncompressedSize}");
                return data;
            case CompressionCodec.Snappy:
                var pos = 0;
                var declared = Encodings.RleBitPackedHybrid.ReadVarint(data, ref pos);
                if (declared != (ulong)uncompressedSize)
                    throw new CorruptDataException($"Snappy block declares {declared} bytes but the page header says {uncompressedSize}");
                if ((long)uncompressedSize > (long)data.Length * MaxSnappyExpansion + 64)
                    throw new CorruptDataException($"Snappy block of {data.Length} bytes cannot expand to {uncompressedSize}");
                byte[] result;
                try
                {
                    result = IronSnappy.Snappy.Decode(data);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The codec library reports corrupt blocks with assorted exception types; one message here.
                    throw new CorruptDataException($"corrupt Snappy block ({e.GetType().Name}: {e.Message})");
                }
                if (result.Length != uncompressedSize)
                    throw new CorruptDataException($"Snappy block decoded to {result.Length} bytes, header says {uncompressedSize}");
                return result;
            default:
                throw new CorruptDataException($"compression codec {codec} is not supported (only UNCOMPRESSED and SNAPPY)");
        }
    }
}
