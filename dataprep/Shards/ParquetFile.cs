using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using Parquet;
using Parquet.Meta;

namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Opens a Parquet file with Parquet.Net behind the checks it lacks, and turns whatever it throws into a
/// <see cref="ParquetFormatException"/> naming the file. Parquet.Net writes and checks no page CRCs, so a
/// flipped data byte can read back wrong without an error: shards in a manifest are trusted only after their
/// SHA-256 matched (<see cref="Manifest.ManifestFile.OpenShard"/>).
/// </summary>
public sealed class ParquetFile : IDisposable
{
    private ParquetFile(string path, ParquetReader reader, SafeFileHandle handle)
    {
        Path = path;
        Reader = reader;
        Handle = handle;
    }

    public string Path { get; }

    public ParquetReader Reader { get; }

    /// <summary>
    /// The file Parquet.Net reads (checked at open), for positional reads: <see cref="DirectBlobColumn"/> reads page
    /// bytes with it, leaving the stream's position alone and taking no lock, so that other threads may read too.
    /// </summary>
    internal SafeFileHandle Handle { get; }

    public void Dispose() => Wait(() => Reader.DisposeAsync().AsTask());

    /// <summary>Opens <paramref name="path"/> (a missing file stays a <see cref="FileNotFoundException"/>).</summary>
    public static ParquetFile Open(string path, Action<Stream>? verify = null)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        SyncReadStream stream;
        try
        {
            stream = new SyncReadStream(new FileStream(handle, FileAccess.Read, 1 << 16));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        try
        {
            if (verify != null)
            {
                verify(stream);
                stream.Position = 0;
            }
            var length = stream.Length;
            var footerLength = CheckFrame(path, stream);
            CheckFooterShape(path, stream, footerLength);
            var reader = Guard(path, "cannot read the footer", () => Wait(() => ParquetReader.CreateAsync(stream, new ParquetOptions(), leaveStreamOpen: false)));
            var file = new ParquetFile(path, reader, handle);
            try
            {
                // Parquet.Net decodes the schema lazily: make it fail here, named, rather than at first use.
                Guard(path, "cannot read the schema", () => reader.Schema.DataFields.Length);
                Guard(path, "invalid metadata", () =>
                {
                    CheckMetadata(path, reader, length, length - 8 - footerLength);
                    CheckPageHeaders(path, handle, reader);
                    return 0;
                });
                return file;
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits for a Parquet.Net call with no synchronization context: its awaits do not opt out of the caller's
    /// context, and under one (xunit's, a UI's) every continuation queued behind it (a 25 KB shard took 0.5 s to read).
    /// </summary>
    public static T Wait<T>(Func<Task<T>> call)
    {
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            return call().GetAwaiter().GetResult();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    public static void Wait(Func<Task> call) => Wait(async () =>
    {
        await call();
        return 0;
    });

    /// <summary>Runs a Parquet.Net call; any exception it throws becomes a <see cref="ParquetFormatException"/> saying where.</summary>
    public static T Guard<T>(string path, string where, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is not (ParquetFormatException or OperationCanceledException))
        {
            // OutOfMemoryException included: it comes from a size field claiming gigabytes, not from a full heap.
            throw new ParquetFormatException(path, $"{where}: {e.GetType().Name}: {e.Message}", e);
        }
    }

    /// <summary>
    /// A LIST&lt;INT32&gt; column of one row group, one array per row (null for a null list), from the raw levels:
    /// repetition 0 starts a row, full definition is an element, one less (two with optional elements) an empty list.
    /// Parquet.Net has no typed reader for lists outside its whole-file deserializer.
    /// </summary>
    public static int[]?[] ReadInt32Lists(string path, ParquetRowGroupReader group, int rowGroup, Parquet.Schema.DataField field)
    {
        var name = field.Path.FirstPart;
        var rows = checked((int)group.RowCount);
        var slots = group.GetMetadata(field)?.MetaData?.NumValues ?? 0;
        // The slot count sizes three arrays before any page is read; a sample has at most a few hundred offsets.
        if (slots < rows || slots > rows * 4096L)
            throw new ParquetFormatException(path, $"row group {rowGroup}: column '{name}' claims {slots} list slots for {rows} rows");
        var values = new int[slots];
        var definition = new int[slots];
        var repetition = new int[slots];
        Guard(path, $"row group {rowGroup}, column '{name}'", () =>
        {
            Wait(() => group.ReadRawAsync<int>(field, values, definition, repetition, default).AsTask());
            return 0;
        });
        var max = field.MaxDefinitionLevel;
        var emptyList = max - 1 - (field.IsNullable ? 1 : 0);
        var result = new int[]?[rows];
        var current = new List<int>();
        int row = -1, next = 0;
        var isNull = false;
        void Finish()
        {
            if (row >= 0)
                result[row] = isNull ? null : [.. current];
        }
        for (var s = 0; s < slots; s++)
        {
            if (repetition[s] == 0)
            {
                Finish();
                current.Clear();
                isNull = false;
                if (++row >= rows)
                    throw new ParquetFormatException(path, $"row group {rowGroup}: column '{name}' has more lists than the group's {rows} rows");
            }
            else if (row < 0)
            {
                throw new ParquetFormatException(path, $"row group {rowGroup}: column '{name}' starts inside a list");
            }
            var d = definition[s];
            if (d == max)
            {
                if (next >= values.Length)
                    throw new ParquetFormatException(path, $"row group {rowGroup}: column '{name}' has more elements than values");
                current.Add(values[next++]);
            }
            else if (d < emptyList)
            {
                isNull = true;
            }
            else if (d > emptyList)
            {
                throw new ParquetFormatException(path, $"row group {rowGroup}, row {row}: column '{name}' holds a null element");
            }
        }
        Finish();
        if (row != rows - 1)
            throw new ParquetFormatException(path, $"row group {rowGroup}: column '{name}' has {row + 1} rows, the group {rows}");
        return result;
    }

    /// <summary>Magic at both ends and a footer length that fits: checked before Parquet.Net allocates by them.</summary>
    private static int CheckFrame(string path, Stream stream)
    {
        var length = stream.Length;
        if (length < 12)
            throw new ParquetFormatException(path, $"too short to be Parquet ({length} bytes; at least 12 needed)");
        Span<byte> head = stackalloc byte[4];
        Span<byte> tail = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(head);
        stream.Position = length - 8;
        stream.ReadExactly(tail);
        stream.Position = 0;
        if (!head.SequenceEqual("PAR1"u8) || !tail[4..].SequenceEqual("PAR1"u8))
            throw new ParquetFormatException(path, "is not Parquet: no PAR1 magic at its start and end");
        var footerLength = BinaryPrimitives.ReadInt32LittleEndian(tail);
        if (footerLength <= 0 || footerLength > length - 12)
            throw new ParquetFormatException(path, $"footer length {footerLength} does not fit a {length}-byte file");
        return footerLength;
    }

    private static void CheckFooterShape(string path, Stream stream, int footerLength)
    {
        var footer = new byte[footerLength];
        stream.Position = stream.Length - 8 - footerLength;
        stream.ReadExactly(footer);
        stream.Position = 0;
        try
        {
            var used = ThriftBounds.CheckStruct(footer, []);
            if (used != footerLength)
                throw new InvalidDataException($"the footer's metadata ends at byte {used} of {footerLength}");
        }
        catch (Exception e) when (e is InvalidDataException or ThriftBounds.Truncated)
        {
            throw new ParquetFormatException(path, $"corrupt footer: {(e is ThriftBounds.Truncated ? "it ends inside its metadata" : e.Message)}");
        }
    }

    /// <summary>
    /// Walks every page header of every column chunk: each page must lie inside its chunk and claim an uncompressed
    /// size a codec can produce from its bytes (Parquet.Net allocates the claimed size before decompressing).
    /// </summary>
    private static void CheckPageHeaders(string path, SafeFileHandle handle, ParquetReader reader)
    {
        var meta = reader.Metadata!;
        // Small: a header is a few dozen bytes, and each is read into it; the window grows for long ones.
        var window = new byte[1 << 12];
        Span<byte> snappyLength = stackalloc byte[10];
        var fields = new int[3]; // a page header's type, uncompressed size, compressed size
        for (var g = 0; g < meta.RowGroups.Count; g++)
        {
            for (var c = 0; c < meta.RowGroups[g].Columns.Count; c++)
            {
                var chunk = meta.RowGroups[g].Columns[c].MetaData!;
                var at = chunk.DictionaryPageOffset is > 0 ? chunk.DictionaryPageOffset.Value : chunk.DataPageOffset;
                var end = at + chunk.TotalCompressedSize;
                var uncompressedCodec = chunk.Codec == CompressionCodec.UNCOMPRESSED;
                while (at < end)
                {
                    string Where() => $"row group {g}, column {c}, page header at {at}";
                    var used = PageHeader(path, handle, at, end, ref window, fields, Where);
                    var (type, uncompressed, compressed) = (fields[0], fields[1], fields[2]);
                    if (compressed < 0 || uncompressed < 0 || at + used + compressed > end)
                        throw new ParquetFormatException(path, $"{Where()}: a page of {compressed} bytes does not fit its column chunk (ends at {end})");
                    if (uncompressed > MaxExpansion * compressed + (uncompressedCodec ? 0 : 1 << 20) && !(uncompressedCodec && uncompressed == compressed))
                        throw new ParquetFormatException(path, $"{Where()}: {uncompressed} bytes uncompressed from {compressed} is not a real compression ratio");
                    // Snappy's own length preamble sizes the output buffer: it must not exceed the page's (v2 pages keep their levels outside it, so it is checked the same way).
                    if (chunk.Codec == CompressionCodec.SNAPPY && compressed > 0 && type != 3)
                    {
                        var p = 0;
                        ulong claimed;
                        try
                        {
                            var length = snappyLength[..(int)Math.Min(snappyLength.Length, end - at - used)];
                            ReadAt(path, handle, length, at + used);
                            claimed = ThriftBounds.Varint(length, ref p);
                        }
                        catch (Exception e) when (e is InvalidDataException or ThriftBounds.Truncated)
                        {
                            throw new ParquetFormatException(path, $"{Where()}: no Snappy length after the header");
                        }
                        if (claimed > (ulong)uncompressed)
                            throw new ParquetFormatException(path, $"{Where()}: Snappy claims {claimed} bytes for a {uncompressed}-byte page");
                    }
                    at += used + compressed;
                }
            }
        }
    }

    /// <summary>
    /// Bounds-checks the page header at <paramref name="at"/> (its chunk ends at <paramref name="end"/>) and returns
    /// its length; <paramref name="fields"/> gets its type, uncompressed and compressed sizes. The header's bytes
    /// are left at the start of <paramref name="window"/>, which grows for long headers.
    /// </summary>
    internal static int PageHeader(string path, SafeFileHandle handle, long at, long end, ref byte[] window, Span<int> fields, Func<string> where)
    {
        while (true)
        {
            var n = (int)Math.Min(window.Length, end - at);
            ReadAt(path, handle, window.AsSpan(0, n), at);
            try
            {
                return ThriftBounds.CheckStruct(window.AsSpan(0, n), fields);
            }
            catch (ThriftBounds.Truncated) when (n == window.Length && window.Length < 16 << 20)
            {
                window = new byte[window.Length * 4]; // statistics of large binary values make long headers
            }
            catch (Exception e) when (e is InvalidDataException or ThriftBounds.Truncated)
            {
                throw new ParquetFormatException(path, $"{where()}: corrupt ({(e is ThriftBounds.Truncated ? "it runs past its column chunk" : e.Message)})");
            }
        }
    }

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="at"/> (a positional read: no stream position, no lock).</summary>
    internal static void ReadAt(string path, SafeFileHandle handle, Span<byte> buffer, long at)
    {
        while (!buffer.IsEmpty)
        {
            var n = RandomAccess.Read(handle, buffer, at);
            if (n == 0)
                throw new ParquetFormatException(path, $"ends at {at}, inside data its metadata places there (changed since it was opened?)");
            buffer = buffer[n..];
            at += n;
        }
    }

    /// <summary>Row counts and column chunk ranges must fit the file, before any column is read.</summary>
    private static void CheckMetadata(string path, ParquetReader reader, long fileLength, long footerStart)
    {
        var meta = reader.Metadata ?? throw new ParquetFormatException(path, "has no file metadata");
        var leaves = reader.Schema.DataFields.Length;
        // A row costs at least a byte somewhere in the data; a larger count is a corrupt footer (and would size arrays).
        if (meta.NumRows < 0 || meta.NumRows > fileLength)
            throw new ParquetFormatException(path, $"claims {meta.NumRows} rows in {fileLength} bytes");
        var rows = 0L;
        for (var g = 0; g < (meta.RowGroups?.Count ?? 0); g++)
        {
            var group = meta.RowGroups![g];
            if (group.NumRows < 0 || group.NumRows > meta.NumRows)
                throw new ParquetFormatException(path, $"row group {g} claims {group.NumRows} rows of {meta.NumRows}");
            rows += group.NumRows;
            if (group.Columns == null || group.Columns.Count != leaves)
                throw new ParquetFormatException(path, $"row group {g} has {group.Columns?.Count ?? 0} column chunks, the schema {leaves} columns");
            for (var c = 0; c < leaves; c++)
            {
                var chunk = group.Columns[c].MetaData
                    ?? throw new ParquetFormatException(path, $"row group {g}, column {c}: no column metadata");
                var start = chunk.DictionaryPageOffset is > 0 ? chunk.DictionaryPageOffset.Value : chunk.DataPageOffset;
                if (start < 4 || chunk.TotalCompressedSize <= 0 || start + chunk.TotalCompressedSize > footerStart)
                    throw new ParquetFormatException(path, $"row group {g}, column {c}: chunk at {start} of {chunk.TotalCompressedSize} bytes lies outside the data (4..{footerStart})");
                if (chunk.NumValues < 0 || chunk.NumValues > 64 * fileLength)
                    throw new ParquetFormatException(path, $"row group {g}, column {c}: {chunk.NumValues} values cannot fit {fileLength} bytes");
                if (chunk.TotalUncompressedSize < 0 || chunk.TotalUncompressedSize > MaxExpansion * chunk.TotalCompressedSize + (1 << 20))
                    throw new ParquetFormatException(path, $"row group {g}, column {c}: {chunk.TotalUncompressedSize} bytes uncompressed from {chunk.TotalCompressedSize} is not a real compression ratio");
                if (chunk.Codec is not (CompressionCodec.UNCOMPRESSED or CompressionCodec.SNAPPY or CompressionCodec.GZIP or CompressionCodec.ZSTD or CompressionCodec.LZ4_RAW or CompressionCodec.BROTLI))
                    throw new ParquetFormatException(path, $"row group {g}, column {c}: unsupported codec {chunk.Codec}");
            }
        }
        if (rows != meta.NumRows)
            throw new ParquetFormatException(path, $"row groups hold {rows} rows, the footer says {meta.NumRows}");
    }

    /// <summary>Above any codec's real ratio on sample data (Snappy's ceiling is ~21×, zstd on zeros far more, so generous).</summary>
    private const long MaxExpansion = 1024;

    /// <summary>
    /// Serves Parquet.Net's asynchronous reads synchronously: a local file gains nothing from thread-pool hops, and
    /// keeping the work on the caller's thread keeps its allocations measurable (the fuzz tests bound them).
    /// </summary>
    private sealed class SyncReadStream(FileStream inner) : Stream
    {
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(inner.Read(buffer, offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(inner.Read(buffer.Span));

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
