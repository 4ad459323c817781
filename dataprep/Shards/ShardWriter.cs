using System.Runtime.InteropServices;
using System.Security.Cryptography;
using GidCluster.Dataprep.Samples;
using Parquet;

namespace GidCluster.Dataprep.Shards;

public sealed record ShardWriterOptions
{
    /// <summary>
    /// A row group is flushed once its samples reach this many (estimated) bytes. Parquet.Net allocates about
    /// five times a row group's bytes while writing or reading it: 24 MB (4–5 full-size samples) kept peak RSS
    /// at 0.3–0.8 GB, ~100 MB groups at 1.6–2.6 GB.
    /// </summary>
    public long RowGroupBytes { get; init; } = 24L << 20;

    /// <summary>A new shard is started when the current one reaches this size.</summary>
    public long MaxShardBytes { get; init; } = 256L << 20;

    public CompressionMethod Codec { get; init; } = CompressionMethod.Snappy;

    /// <summary>
    /// The codec of the <c>spectral_volume</c> column (~90% of a shard's bytes). Uncompressed by default: Snappy
    /// saved only 3–4% on it in real shards (fp16 mantissas are noise to it), while Parquet.Net's Snappy read path
    /// copies a page about four times over (growing buffer, array copy, output), which made reads ~4× slower.
    /// </summary>
    public CompressionMethod VolumeCodec { get; init; } = CompressionMethod.None;

    /// <summary>Shard file names: prefix, then a 5-digit index, then <c>.parquet</c>.</summary>
    public string FilePrefix { get; init; } = "shard-";
}

/// <summary>A finished shard as the manifest lists it.</summary>
/// <param name="Path">Relative to the output folder (forward slashes).</param>
public sealed record ShardInfo(string Path, long Rows, long Bytes, string Sha256);

/// <summary>
/// Writes one shard file with Parquet.Net: samples are buffered until a row group's worth, then written
/// column by column; the file's SHA-256 is computed while writing. Memory holds at most one row group of samples.
/// </summary>
public sealed class ShardWriter : IDisposable
{
    private readonly ShardWriterOptions _options;
    private readonly HashingStream _stream;
    private readonly ParquetWriter _parquet;
    private readonly ParquetOptions _parquetOptions;
    private readonly List<Sample> _pending = [];
    private long _pendingBytes;
    private bool _closed;

    public ShardWriter(string path, ShardWriterOptions? options = null)
    {
        _options = options ?? new ShardWriterOptions();
        FilePath = path;
        _stream = new HashingStream(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16));
        _parquetOptions = new ParquetOptions { CompressionMethod = _options.Codec };
        try
        {
            _parquet = ParquetFile.Wait(() => ParquetWriter.CreateAsync(ShardSchema.Parquet, _stream, _parquetOptions));
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
        _parquet.CustomMetadata = new Dictionary<string, string>
        {
            [ShardSchema.VersionKey] = ShardSchema.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    public string FilePath { get; }

    public long Rows { get; private set; }

    /// <summary>Bytes on disk plus the samples still buffered (estimated).</summary>
    public long ApproximateBytes => _stream.Position + _pendingBytes;

    public void Write(Sample sample)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        ShardSchema.Validate(sample);
        _pending.Add(sample);
        _pendingBytes += ShardSchema.EstimateBytes(sample);
        Rows++;
        if (_pendingBytes >= _options.RowGroupBytes)
            Flush();
    }

    private void Flush()
    {
        if (_pending.Count == 0)
            return;
        ParquetFile.Wait(() => WriteRowGroup(_pending));
        _pending.Clear();
        _pendingBytes = 0;
    }

    /// <summary>Shreds the samples into the schema's columns, in schema order (Parquet.Net requires it).</summary>
    private async Task WriteRowGroup(List<Sample> samples)
    {
        var fields = ShardSchema.Parquet.DataFields;
        using var group = _parquet.CreateRowGroup();
        var i = 0;
        Task Strings(Func<Sample, string> f) => group.WriteAsync(fields[i++], samples.Select(f).ToArray());
        Task Bytes(Func<Sample, byte[]> f) => group.WriteAsync(fields[i++], samples.Select(f).ToArray());
        Task Values<T>(Func<Sample, T> f) where T : struct => group.WriteAsync<T>(fields[i++], samples.Select(f).ToArray(), null, null, default);
        await Strings(s => s.VideoId);
        await Values(s => s.StartFrame);
        await Values(s => s.Fps);
        await Values(s => s.Width);
        await Values(s => s.Height);
        await Bytes(s => s.Image);
        // Parquet.Net has no per-column codec option; it reads its (shared) options object as each column chunk is
        // written, so the volume column gets its own codec by switching it around that one write (a test checks the result).
        _parquetOptions.CompressionMethod = _options.VolumeCodec;
        try
        {
            await Bytes(s => MemoryMarshal.AsBytes(s.SpectralVolume.AsSpan()).ToArray());
        }
        finally
        {
            _parquetOptions.CompressionMethod = _options.Codec;
        }
        await Bytes(s => s.TargetFrames);
        await WriteInt32Lists(group, fields[i++], samples.Select(s => s.TargetOffsets).ToList());
        await Strings(s => s.SourceUri);
        await Strings(s => s.FlowMethod);
        await Strings(s => ShardSchema.QualityToJson(s.Quality));
        await Strings(s => s.Split);
        group.CompleteValidate();
    }

    /// <summary>
    /// A LIST&lt;INT32&gt; column goes through the low-level call with explicit levels: repetition 0 starts a row,
    /// definition 2 is an element, 1 an empty list (the list group is optional in Parquet.Net's layout).
    /// </summary>
    private static Task WriteInt32Lists(ParquetRowGroupWriter group, Parquet.Schema.DataField field, List<int[]> lists)
    {
        var values = lists.SelectMany(l => l).ToArray();
        var slots = lists.Sum(l => Math.Max(1, l.Length));
        var definition = new int[slots];
        var repetition = new int[slots];
        var at = 0;
        foreach (var list in lists)
        {
            for (var k = 0; k < Math.Max(1, list.Length); k++, at++)
            {
                definition[at] = list.Length == 0 ? field.MaxDefinitionLevel - 1 : field.MaxDefinitionLevel;
                repetition[at] = k == 0 ? 0 : field.MaxRepetitionLevel;
            }
        }
        return group.WriteAllPartsAsync<int>(field, values, definition, repetition, default);
    }

    /// <summary>Writes the last row group and the footer; returns size and hash (the path is the full path here).</summary>
    public ShardInfo Close()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        Flush();
        // Disposing Parquet.Net's writer writes the footer, and a second dispose writes it again: dispose exactly once, here.
        _closed = true;
        ParquetFile.Wait(() => _parquet.DisposeAsync().AsTask());
        var hash = _stream.Finish();
        _stream.Dispose();
        return new ShardInfo(FilePath, Rows, new FileInfo(FilePath).Length, hash);
    }

    public void Dispose()
    {
        if (_closed)
            return;
        _closed = true;
        // Abandoned before Close (an error upstream): the file has no footer and is in no manifest, so remove it.
        // The Parquet writer is not disposed: that would write a footer over a half-written file.
        _stream.Dispose();
        try
        {
            File.Delete(FilePath);
        }
        catch (IOException)
        {
            // best effort; a footer-less file is rejected by every reader anyway
        }
    }

    /// <summary>Forwards writes to the file and hashes them, so a shard's SHA-256 needs no second read.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public string Finish()
        {
            inner.Flush();
            return Convert.ToHexStringLower(_hash.GetHashAndReset());
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override void WriteByte(byte value) => Write([value]);

        // Parquet.Net writes asynchronously; writing synchronously keeps the hash in file order and the work on this thread.
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            inner.Flush();
            return Task.CompletedTask;
        }

        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                _hash.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// Writes samples into a folder as a sequence of shards (<c>shard-00000.parquet</c>, ...), rolling to
/// a new shard when the current one reaches <see cref="ShardWriterOptions.MaxShardBytes"/>.
/// </summary>
public sealed class ShardSetWriter : IDisposable
{
    private readonly string _folder;
    private readonly ShardWriterOptions _options;
    private readonly List<ShardInfo> _shards = [];
    private ShardWriter? _current;

    public ShardSetWriter(string folder, ShardWriterOptions? options = null)
    {
        _folder = folder;
        _options = options ?? new ShardWriterOptions();
        if (_options.MaxShardBytes <= 0 || _options.RowGroupBytes <= 0)
            throw new ArgumentException("shard and row group sizes must be positive");
        Directory.CreateDirectory(folder);
    }

    /// <summary>Finished shards so far, paths relative to the folder.</summary>
    public IReadOnlyList<ShardInfo> Shards => _shards;

    public void Write(Sample sample)
    {
        if (_current != null && _current.ApproximateBytes + ShardSchema.EstimateBytes(sample) > _options.MaxShardBytes && _current.Rows > 0)
            Roll();
        _current ??= new ShardWriter(System.IO.Path.Combine(_folder, $"{_options.FilePrefix}{_shards.Count:D5}.parquet"), _options);
        _current.Write(sample);
    }

    private void Roll()
    {
        var info = _current!.Close();
        _current.Dispose();
        _current = null;
        _shards.Add(info with { Path = System.IO.Path.GetRelativePath(_folder, info.Path).Replace('\\', '/') });
    }

    /// <summary>Closes the last shard; returns every shard written.</summary>
    public IReadOnlyList<ShardInfo> Complete()
    {
        if (_current != null)
            Roll();
        return _shards;
    }

    public void Dispose() => _current?.Dispose();
}
