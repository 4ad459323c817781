using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace GidCluster.Grains.Blobs.Azure;

/// <summary>
/// <see cref="IBlobStore"/> over one container of Azure Blob Storage (or Azurite), on the Azure SDK
/// (Azure.Storage.Blobs). Writes are all-or-nothing: small objects go up in one Put Blob; large ones as
/// staged blocks (each with an MD5 transfer checksum) that become visible only when the block list is
/// committed, so an interrupted upload leaves nothing a reader can see. The whole object's SHA-256 is
/// stored as blob metadata (<c>sha256</c>) and checked on every full read; every ranged read is checked
/// against the service's MD5 of that range and pinned to the ETag seen first. Retries are the SDK's policy.
/// MD5 rather than the SDK's default CRC64: Azurite 3.37 does not check CRC64, and a single Put Blob
/// whose CRC64 failed still left a corrupted blob behind there.
/// </summary>
public sealed class AzureBlobStore : IBlobStore, IDisposable
{
    /// <summary>
    /// The service version asked for: 12.30.1's default (2026-10-06) is newer than Azurite 3.37 accepts
    /// (400 InvalidHeaderValue); Azure serves this one too.
    /// </summary>
    public const BlobClientOptions.ServiceVersion ServiceVersion = BlobClientOptions.ServiceVersion.V2026_06_06;

    private const string ShaMetadata = "sha256";
    private const int MaxBlocks = 50_000; // the service's limit of committed blocks per blob
    private static readonly UploadTransferValidationOptions Md5Upload = new() { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 };

    private readonly AzureBlobStoreOptions _options;
    private readonly BlobContainerClient _container;
    private readonly string _account;
    private readonly Uri _endpoint;
    private Task? _containerReady;

    public AzureBlobStore(AzureConnectionString account, string container, AzureBlobStoreOptions? options = null)
        : this(account?.BlobEndpoint ?? throw new ArgumentNullException(nameof(account)), account.Credential, account.AccountName, ValidateContainer(container), options)
    {
    }

    private AzureBlobStore(Uri endpoint, TokenCredential credential, string container, AzureBlobStoreOptions? options)
        : this(endpoint, (object)credential, endpoint.Host.Split('.')[0], container, options)
    {
    }

    private AzureBlobStore(Uri endpoint, object credential, string accountName, string container, AzureBlobStoreOptions? options)
    {
        Container = container;
        _options = options ?? new AzureBlobStoreOptions();
        _options.Validate();
        _account = accountName;
        _endpoint = endpoint;
        var clientOptions = ClientOptions(_options);
        var containerUri = new Uri($"{endpoint.AbsoluteUri.TrimEnd('/')}/{Container}");
        _container = credential switch
        {
            StorageSharedKeyCredential key => new BlobContainerClient(containerUri, key, clientOptions),
            TokenCredential token => new BlobContainerClient(containerUri, token, clientOptions),
            _ => throw new ArgumentException("unsupported credential", nameof(credential)),
        };
    }

    /// <summary>The SDK's options: pinned service version, its exponential retry policy with our limits, a retry log.</summary>
    public static BlobClientOptions ClientOptions(AzureBlobStoreOptions options)
    {
        var client = new BlobClientOptions(ServiceVersion);
        client.Retry.Mode = RetryMode.Exponential;
        client.Retry.MaxRetries = options.MaxAttempts - 1;
        client.Retry.Delay = options.RetryBaseDelay;
        client.Retry.MaxDelay = options.RetryMaxDelay;
        client.Retry.NetworkTimeout = options.RequestTimeout;
        client.Diagnostics.IsLoggingEnabled = false; // nothing of a request (its signature included) goes to an event source
        if (options.Log != null)
            client.AddPolicy(new RetryLog(options.Log), HttpPipelinePosition.PerRetry);
        return client;
    }

    /// <summary>Opens <paramref name="container"/> in the account named by an Azure connection string (see <see cref="AzureConnectionString"/>).</summary>
    public static AzureBlobStore FromConnectionString(string connectionString, string container, AzureBlobStoreOptions? options = null) =>
        new(AzureConnectionString.Parse(connectionString), container, options);

    /// <summary>The blob-store URI forms this store answers to (for <c>--help</c> texts).</summary>
    public const string UriHelp =
        "azure://CONTAINER (connection string from $AZURE_STORAGE_CONNECTION_STRING), azure://CONTAINER?connection-env=VAR, "
        + "or azure://CONTAINER?account=NAME (or ?endpoint=URL) with DefaultAzureCredential (workload identity, managed identity, az login)";

    /// <summary>The environment variable read when the URI names none (the name Azure's own tools use).</summary>
    public const string DefaultConnectionVariable = AzureAccountQuery.DefaultConnectionVariable;

    /// <summary>
    /// Opens a store from <c>azure://CONTAINER[?connection-env=VAR]</c>: the connection string (with its key) is
    /// read from an environment variable, so that the URI itself, which ends up in logs and command lines, never
    /// carries a secret. Or from <c>azure://CONTAINER?account=NAME</c> / <c>?endpoint=URL</c>: no key at all, the
    /// SDK's <see cref="DefaultAzureCredential"/> (on Kubernetes, workload identity's federated token).
    /// </summary>
    public static AzureBlobStore FromUri(string uri, Func<string, string?>? environment = null, AzureBlobStoreOptions? options = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        const string scheme = "azure://";
        if (uri is null || !uri.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"not an Azure blob URI; expected {UriHelp}", nameof(uri));
        var rest = uri[scheme.Length..];
        var q = rest.IndexOf('?');
        var container = (q < 0 ? rest : rest[..q]).TrimEnd('/');
        if (container.Contains('/') || container.Contains(';') || container.Contains('='))
            throw new ArgumentException($"Azure blob URI must be azure://CONTAINER with nothing after the container; expected {UriHelp}", nameof(uri));
        var (variable, endpoint) = AzureAccountQuery.Parse(q < 0 ? "" : rest[(q + 1)..], "Azure blob URI", "blob", UriHelp);
        if (endpoint != null)
            return new AzureBlobStore(endpoint, new DefaultAzureCredential(), ValidateContainer(container), options);
        var connection = environment(variable);
        if (string.IsNullOrWhiteSpace(connection))
            throw new ArgumentException($"Azure blob URI for container '{container}': environment variable {variable} is not set (it must hold the storage connection string)", nameof(uri));
        return FromConnectionString(connection, container, options);
    }

    public string Container { get; }

    public string Describe() => $"azure container '{Container}' of account '{_account}' at {_endpoint.AbsoluteUri.TrimEnd('/')}";

    public override string ToString() => Describe();

    public void Dispose()
    {
        // The SDK's clients hold no disposable state of their own (a shared HTTP pipeline).
    }

    // ---- writes ------------------------------------------------------------------------------

    public async Task<BlobInfo> PutAsync(string path, Stream content, CancellationToken cancel = default)
    {
        BlobPath.Validate(path);
        ArgumentNullException.ThrowIfNull(content);
        await EnsureContainerAsync(cancel);
        var blob = _container.GetBlockBlobClient(path);

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var wholeMd5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var buffer = new byte[_options.BlockSize];
        var n = await ReadFullAsync(content, buffer, cancel);
        long total = n;
        sha.AppendData(buffer, 0, n);
        wholeMd5.AppendData(buffer, 0, n);

        if (n < buffer.Length)
        {
            // Fits in one request: Put Blob replaces the object atomically.
            var shaHex = Convert.ToHexStringLower(sha.GetHashAndReset());
            var put = await Call($"put {path}", () => blob.UploadAsync(new MemoryStream(buffer, 0, n, writable: false), new BlobUploadOptions
            {
                HttpHeaders = new BlobHttpHeaders { ContentHash = wholeMd5.GetHashAndReset() },
                Metadata = new Dictionary<string, string> { [ShaMetadata] = shaHex },
                TransferOptions = new StorageTransferOptions { InitialTransferSize = buffer.Length, MaximumTransferSize = buffer.Length, MaximumConcurrency = 1 },
                TransferValidation = Md5Upload,
            }, cancel), path);
            return new BlobInfo(path, total, put.Value.LastModified, shaHex);
        }

        // Large: stage blocks, several in flight; nothing is visible until the block list is committed.
        // Reading and hashing stay in order here; only the uploads overlap.
        var upload = Guid.NewGuid().ToString("N");
        var blockIds = new List<string>();
        var free = new Stack<byte[]>();
        var pending = new List<(Task Upload, byte[] Buffer)>();
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        try
        {
            while (n > 0)
            {
                if (blockIds.Count == MaxBlocks)
                    throw new ArgumentException($"'{path}' is larger than the service's {MaxBlocks} blocks of {_options.BlockSize} bytes: raise BlockSize", nameof(content));
                // Every block id of a blob must have the same length; the upload id keeps ours apart from another writer's.
                var blockId = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{upload}-{blockIds.Count:D8}"));
                var (index, data) = (blockIds.Count, new MemoryStream(buffer, 0, n, writable: false));
                pending.Add((Call($"put block {index} of {path}", () => blob.StageBlockAsync(blockId, data,
                    new BlockBlobStageBlockOptions { TransferValidation = Md5Upload }, abort.Token), path), buffer));
                blockIds.Add(blockId);
                if (pending.Count >= _options.UploadConcurrency)
                {
                    var done = await Task.WhenAny(pending.Select(p => p.Upload));
                    var slot = pending.First(p => p.Upload == done);
                    pending.Remove(slot);
                    await done; // rethrows its failure
                    free.Push(slot.Buffer);
                }
                buffer = free.Count > 0 ? free.Pop() : new byte[_options.BlockSize];
                n = await ReadFullAsync(content, buffer, cancel);
                total += n;
                sha.AppendData(buffer, 0, n);
                wholeMd5.AppendData(buffer, 0, n);
            }
            await Task.WhenAll(pending.Select(p => p.Upload));
        }
        catch
        {
            // Stop the other blocks and wait for them, so that no request outlives the call; the first failure wins.
            await abort.CancelAsync();
            try { await Task.WhenAll(pending.Select(p => p.Upload)); }
            catch (Exception) { } // their failures (mostly the cancellation just asked for) are secondary
            throw;
        }

        var sha256 = Convert.ToHexStringLower(sha.GetHashAndReset());
        var commit = await Call($"commit {path}", () => blob.CommitBlockListAsync(blockIds, new CommitBlockListOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentHash = wholeMd5.GetHashAndReset() },
            Metadata = new Dictionary<string, string> { [ShaMetadata] = sha256 },
        }, cancel), path);
        return new BlobInfo(path, total, commit.Value.LastModified, sha256);
    }

    public async Task<bool> DeleteAsync(string path, CancellationToken cancel = default)
    {
        BlobPath.Validate(path);
        var deleted = await Call($"delete {path}", () => _container.GetBlobClient(path).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: cancel), path);
        return deleted.Value;
    }

    // ---- reads -------------------------------------------------------------------------------

    public async Task<BlobInfo?> GetInfoAsync(string path, CancellationToken cancel = default)
    {
        var properties = await GetPropertiesAsync(BlobPath.Validate(path), cancel);
        return properties?.Info;
    }

    public async Task<Stream> OpenReadAsync(string path, CancellationToken cancel = default)
    {
        var properties = await GetPropertiesAsync(BlobPath.Validate(path), cancel)
            ?? throw new BlobNotFoundException(Describe(), path);
        return new VerifyingReadStream(this, properties);
    }

    public async Task<byte[]> ReadRangeAsync(string path, long offset, int length, CancellationToken cancel = default)
    {
        BlobPath.Validate(path);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
            return [];
        var result = new MemoryStream();
        ETag? etag = null;
        long? size = null;
        while (result.Length < length && (size is null || offset + result.Length < size))
        {
            var want = (int)Math.Min(length - result.Length, _options.ReadChunkSize);
            var chunk = await GetRangeAsync(path, offset + result.Length, want, etag, cancel);
            if (chunk is null)
                break; // starts at or past the end
            etag ??= chunk.ETag;
            size ??= chunk.Size;
            result.Write(chunk.Data);
            if (chunk.Data.Length < want)
                break;
        }
        return result.ToArray();
    }

    public async IAsyncEnumerable<BlobInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.StartsWith('/') || prefix.Contains('\\'))
            throw new ArgumentException($"blob prefix '{prefix}' must be relative, with forward slashes", nameof(prefix));
        var pages = _container.GetBlobsAsync(new GetBlobsOptions { Traits = BlobTraits.Metadata, Prefix = prefix.Length > 0 ? prefix : null }, cancel)
            .AsPages(pageSizeHint: _options.ListPageSize).GetAsyncEnumerator(cancel);
        await using (pages)
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await pages.MoveNextAsync();
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    yield break; // no container yet: nothing was ever written
                }
                catch (Exception e) when (e is RequestFailedException or AggregateException)
                {
                    throw Failure($"list '{prefix}'", e, prefix);
                }
                if (!more)
                    yield break;
                foreach (var blob in pages.Current.Values)
                {
                    var sha = blob.Metadata != null && blob.Metadata.TryGetValue(ShaMetadata, out var v) ? v : null;
                    yield return new BlobInfo(blob.Name, blob.Properties.ContentLength ?? 0, blob.Properties.LastModified ?? DateTimeOffset.UtcNow, sha);
                }
            }
        }
    }

    // ---- pieces ------------------------------------------------------------------------------

    private sealed record Properties(BlobInfo Info, ETag ETag);

    private sealed record Chunk(byte[] Data, long Size, ETag ETag);

    private async Task<Properties?> GetPropertiesAsync(string path, CancellationToken cancel)
    {
        Response<BlobProperties> response;
        try
        {
            response = await _container.GetBlobClient(path).GetPropertiesAsync(cancellationToken: cancel);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException)
        {
            throw Failure($"get properties of {path}", e, path);
        }
        var p = response.Value;
        var sha = p.Metadata.TryGetValue(ShaMetadata, out var v) ? v : null;
        return new Properties(new BlobInfo(path, p.ContentLength, p.LastModified, sha), p.ETag);
    }

    /// <summary>One range, checked against the service's MD5 of it; null when <paramref name="offset"/> is at or past the end.</summary>
    private async Task<Chunk?> GetRangeAsync(string path, long offset, int length, ETag? etag, CancellationToken cancel)
    {
        Response<BlobDownloadResult> response;
        try
        {
            response = await _container.GetBlobClient(path).DownloadContentAsync(new BlobDownloadOptions
            {
                Range = new HttpRange(offset, length),
                Conditions = etag is { } tag ? new BlobRequestConditions { IfMatch = tag } : null, // the object must not change between chunks
                // Ask for the range's MD5 and compare it here, to name the blob and range in the error.
                TransferValidation = new DownloadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5, AutoValidateChecksum = false },
            }, cancel);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new BlobNotFoundException(Describe(), path);
        }
        catch (RequestFailedException e) when (e.Status == 416)
        {
            return null;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw new AzureBlobException($"blob '{path}' in {Describe()} was replaced while it was being read", 412, "ConditionNotMet");
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException)
        {
            throw Failure($"read {path}", e, path);
        }
        var data = response.Value.Content.ToArray();
        if (data.Length == 0)
            return null; // Azurite answers a range starting exactly at the end with an empty 206 where Azure says 416
        var details = response.Value.Details;
        var expected = details.ContentHash
            ?? throw new BlobCorruptedException(Describe(), path, $"the service sent no Content-MD5 for bytes {offset}..");
        if (!MD5.HashData(data).AsSpan().SequenceEqual(expected))
            throw new BlobCorruptedException(Describe(), path, $"bytes {offset}..{offset + data.Length - 1} do not match their Content-MD5");
        var size = details.ContentRange is { } range && range.LastIndexOf('/') is var slash and > 0 && long.TryParse(range[(slash + 1)..], out var whole)
            ? whole
            : throw new AzureBlobException($"read {path}: the service sent no Content-Range");
        return new Chunk(data, size, details.ETag);
    }

    private Task EnsureContainerAsync(CancellationToken cancel)
    {
        // Once per store; a failed attempt is forgotten so that the next write tries again.
        var ready = _containerReady;
        if (ready is { IsCompletedSuccessfully: true })
            return ready;
        if (ready is null || ready.IsFaulted || ready.IsCanceled)
            _containerReady = ready = Call($"create container {Container}", () => _container.CreateIfNotExistsAsync(cancellationToken: cancel), Container);
        return ready;
    }

    /// <summary>Runs an SDK call; its failures (after the SDK's retries) become one clear exception with no secret in it.</summary>
    private async Task<T> Call<T>(string what, Func<Task<T>> call, string subject)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException)
        {
            throw Failure(what, e, subject);
        }
    }

    /// <summary>
    /// The status and the service's error code, never the SDK's message (which lists request headers); a transport
    /// failure after every retry arrives as an <see cref="AggregateException"/> of the attempts.
    /// </summary>
    private AzureBlobException Failure(string what, Exception e, string subject)
    {
        if (e is RequestFailedException { Status: > 0 } r)
            return new AzureBlobException($"{what} in {Describe()} failed: {r.Status} {r.ErrorCode ?? "(no error code)"}", r.Status, r.ErrorCode, e);
        var attempts = e is AggregateException a ? a.InnerExceptions.Count : 1;
        var cause = (e is AggregateException agg ? agg.InnerExceptions[^1] : e).GetBaseException();
        return new AzureBlobException($"{what} of '{subject}' in {Describe()} failed after {attempts} attempt(s): {cause.GetType().Name}: {cause.Message}", inner: e);
    }

    /// <summary>One line per failed attempt (the SDK retries it): status or transport error, never headers.</summary>
    private sealed class RetryLog(Action<string> log) : HttpPipelinePolicy
    {
        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
            ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            var what = $"{message.Request.Method} {message.Request.Uri.Path}";
            try
            {
                await ProcessNextAsync(message, pipeline);
            }
            catch (Exception e) when (e is not OperationCanceledException || !message.CancellationToken.IsCancellationRequested)
            {
                log($"azure: {what}: {e.GetType().Name}; the SDK's retry policy decides on another attempt");
                throw;
            }
            if (message.HasResponse && message.Response.Status is 408 or 429 or 500 or 502 or 503 or 504)
                log($"azure: {what}: {message.Response.Status} {message.Response.ReasonPhrase}; the SDK's retry policy decides on another attempt");
        }
    }

    private static async Task<int> ReadFullAsync(Stream stream, byte[] buffer, CancellationToken cancel)
    {
        var n = 0;
        while (n < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(n), cancel);
            if (read == 0)
                break;
            n += read;
        }
        return n;
    }

    private static string ValidateContainer(string container)
    {
        // The service's rule: 3–63 of [a-z0-9-], starting and ending with a letter or digit, no "--".
        if (string.IsNullOrEmpty(container) || container.Length is < 3 or > 63
            || !container.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
            || container[0] == '-' || container[^1] == '-' || container.Contains("--", StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"Azure container name '{container}' is invalid: 3–63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit",
                nameof(container));
        }
        return container;
    }

    /// <summary>
    /// Reads an object chunk by chunk (each MD5-checked, all pinned to the ETag seen when it was opened)
    /// and checks the whole object's SHA-256 against the recorded one when the end is reached.
    /// </summary>
    private sealed class VerifyingReadStream(AzureBlobStore store, Properties properties) : Stream
    {
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private byte[] _chunk = [];
        private int _chunkPos;
        private long _position;
        private bool _verified;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => properties.Info.Size;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancel = default)
        {
            if (buffer.Length == 0)
                return 0;
            if (_chunkPos == _chunk.Length)
            {
                if (_position >= properties.Info.Size)
                {
                    Verify();
                    return 0;
                }
                var want = (int)Math.Min(store._options.ReadChunkSize, properties.Info.Size - _position);
                var chunk = await store.GetRangeAsync(properties.Info.Path, _position, want, properties.ETag, cancel);
                if (chunk is null || chunk.Data.Length == 0)
                    throw new BlobCorruptedException(store.Describe(), properties.Info.Path, $"it ended at byte {_position} of {properties.Info.Size}");
                _sha.AppendData(chunk.Data);
                _chunk = chunk.Data;
                _chunkPos = 0;
            }
            var n = Math.Min(buffer.Length, _chunk.Length - _chunkPos);
            _chunk.AsMemory(_chunkPos, n).CopyTo(buffer);
            _chunkPos += n;
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancel) =>
            ReadAsync(buffer.AsMemory(offset, count), cancel).AsTask();

        private void Verify()
        {
            if (_verified)
                return;
            _verified = true;
            var actual = Convert.ToHexStringLower(_sha.GetHashAndReset());
            if (properties.Info.Sha256 is { } expected && !expected.Equals(actual, StringComparison.OrdinalIgnoreCase))
                throw new BlobCorruptedException(store.Describe(), properties.Info.Path, $"its SHA-256 is {actual}, but {expected} was recorded at upload");
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _sha.Dispose();
            base.Dispose(disposing);
        }
    }
}
