namespace GidCluster.Grains.Blobs.Azure;

/// <summary>Tuning of <see cref="AzureBlobStore"/>; the defaults suit Azure itself, tests shrink them to exercise the edge cases.</summary>
public sealed record AzureBlobStoreOptions
{
    /// <summary>Objects up to this size go up in one Put Blob; larger ones in blocks of this size (Put Block + Put Block List).</summary>
    public int BlockSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Blocks of one object uploaded at once; memory held is about this many blocks.</summary>
    public int UploadConcurrency { get; init; } = 4;

    /// <summary>Objects are read back in ranges of this size, each checked against the service's Content-MD5 (at most 4 MiB, the service's limit for range MD5).</summary>
    public int ReadChunkSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>List Blobs page size (maxresults); small values force continuation markers.</summary>
    public int ListPageSize { get; init; } = 5000;

    /// <summary>Attempts per request (first try included) on 408/429/500/502/503/504 and transport errors.</summary>
    public int MaxAttempts { get; init; } = 6;

    /// <summary>Backoff before retry n is a random delay in [0, min(RetryMaxDelay, RetryBaseDelay·2ⁿ)] ("full jitter").</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Time limit of one HTTP request; a request that exceeds it counts as a transport error and is retried.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>Receives one line per retry and per notable event; never given the key or a signature.</summary>
    public Action<string>? Log { get; init; }

    internal void Validate()
    {
        // The service accepts blocks up to 4000 MiB, but a block is held in memory here.
        if (BlockSize is < 1024 or > 256 * 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "block size must be between 1 KiB and 256 MiB");
        if (UploadConcurrency is < 1 or > 64)
            throw new ArgumentOutOfRangeException(nameof(UploadConcurrency), UploadConcurrency, "upload concurrency must be between 1 and 64");
        if (ReadChunkSize is < 1 or > 4 * 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(ReadChunkSize), ReadChunkSize, "read chunk size must be between 1 byte and 4 MiB");
        if (ListPageSize is < 1 or > 5000)
            throw new ArgumentOutOfRangeException(nameof(ListPageSize), ListPageSize, "list page size must be between 1 and 5000");
        if (MaxAttempts < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "at least one attempt");
        if (RetryBaseDelay < TimeSpan.Zero || RetryMaxDelay < TimeSpan.Zero || RequestTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(RetryBaseDelay), "delays must be non-negative and the request timeout positive");
    }
}

/// <summary>The service refused a request (after retries, when the status was transient).</summary>
public sealed class AzureBlobException(string message, int? status = null, string? errorCode = null, Exception? inner = null)
    : IOException(message, inner)
{
    public int? Status { get; } = status;

    /// <summary>The service's error code (<c>x-ms-error-code</c>), e.g. <c>AuthenticationFailed</c>.</summary>
    public string? ErrorCode { get; } = errorCode;
}

/// <summary>Bytes read back do not match the checksum recorded for them: the download is refused.</summary>
public sealed class BlobCorruptedException(string store, string path, string detail)
    : IOException($"blob '{path}' in {store} is corrupted: {detail}")
{
    public string BlobPath { get; } = path;
}
