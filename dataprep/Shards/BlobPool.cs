using GidCluster.Dataprep.Samples;

namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Sample arrays (image, volume, target frames) of exact lengths, kept for the next row group a
/// <see cref="ShardReader"/> reads. Fresh multi-megabyte arrays cost far more than reading into them: on this
/// machine a new 5 MB array took ~20 ms of page faults per 300 MB-worth, the file read into it 1 ms
/// (<c>gid bench parquet</c>, read vs read_no_reuse). Exact lengths because a sample's arrays are its sizes
/// (<see cref="ArrayPool{T}"/> hands out larger ones). A caller returns a sample only when nothing uses it any more.
/// </summary>
public sealed class BlobPool(long capacityBytes)
{
    private readonly Dictionary<(Type, int), Stack<Array>> _free = [];
    private long _heldBytes;

    /// <summary>Bytes held for reuse (at most the capacity).</summary>
    public long HeldBytes
    {
        get
        {
            lock (_free)
                return _heldBytes;
        }
    }

    /// <summary>An array of exactly <paramref name="length"/> elements, its contents undefined (the reader overwrites all of it).</summary>
    public T[] Rent<T>(int length) where T : unmanaged
    {
        lock (_free)
        {
            if (!_free.TryGetValue((typeof(T), length), out var stack))
                _free[(typeof(T), length)] = stack = new Stack<Array>();
            if (stack.TryPop(out var array))
            {
                _heldBytes -= Bytes<T>(length);
                return (T[])array;
            }
        }
        return GC.AllocateUninitializedArray<T>(length);
    }

    /// <summary>Keeps the array for reuse while the pool has room and its length was rented; the caller must not touch it afterwards.</summary>
    public void Return<T>(T[] array) where T : unmanaged
    {
        var bytes = Bytes<T>(array.Length);
        lock (_free)
        {
            // Only lengths asked for before: arrays a reader made without the pool (e.g. Parquet.Net's) would never be asked for.
            if (_heldBytes + bytes > capacityBytes || !_free.TryGetValue((typeof(T), array.Length), out var stack))
                return;
            stack.Push(array);
            _heldBytes += bytes;
        }
    }

    /// <summary>Returns a sample's big arrays (the sample must not be used afterwards).</summary>
    public void Return(Sample sample)
    {
        Return(sample.Image);
        Return(sample.SpectralVolume);
        Return(sample.TargetFrames);
    }

    private static long Bytes<T>(int length) where T : unmanaged => (long)length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
}
