using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace GidCluster.Grains.Blobs.Azure;

/// <summary>
/// <see cref="IBlobStore"/> over one container of Azure Blob Storage (or Azurite), spoken in the
/// Blob REST API with Shared Key signing. Writes are all-or-nothing: small objects go up in one Put
/// Blob; large ones as uncommitted blocks (each with its Content-MD5) that become visible only when
/// Put Block List commits them, so an interrupted upload leaves nothing a reader can see. The
/// whole object's SHA-256 is stored as blob metadata (<c>x-ms-meta-sha256</c>) and checked on every
/// full read; every ranged read is checked against the service's MD5 of that range.
/// </summary>
public sealed class AzureBlobStore : IBlobStore, IDisposable
{
    /// <summary>The REST API version every request asks for (supported by Azure and Azurite 3.x).</summary>
    public const string ApiVersion = "2023-11-03";

    private const string ShaMetadata = "sha256";
    private const int MaxBlocks = 50_000; // the service's limit of committed blocks per blob
    private static readonly HashSet<HttpStatusCode> Transient =
    [
        HttpStatusCode.RequestTimeout, HttpStatusCode.TooManyRequests, HttpStatusCode.InternalServerError,
        HttpStatusCode.BadGateway, HttpStatusCode.ServiceUnavailable, HttpStatusCode.GatewayTimeout,
    ];

    private readonly AzureConnectionString _account;
    private readonly AzureBlobStoreOptions _options;
    private readonly HttpClient _http;
    private readonly string _containerUri;
    private Task? _containerReady;

    public AzureBlobStore(AzureConnectionString account, string container, AzureBlobStoreOptions? options = null)
    {
        _account = account ?? throw new ArgumentNullException(nameof(account));
        Container = ValidateContainer(container);
        _options = options ?? new AzureBlobStoreOptions();
        _options.Validate();
        _containerUri = $"{account.BlobEndpoint.AbsoluteUri.TrimEnd('/')}/{Container}";
        // Timeouts are per request (below), so that a slow block upload does not trip a client-wide limit.
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>Opens <paramref name="container"/> in the account named by an Azure connection string (see <see cref="AzureConnectionString"/>).</summary>
    public static AzureBlobStore FromConnectionString(string connectionString, string container, AzureBlobStoreOptions? options = null) =>
        new(AzureConnectionString.Parse(connectionString), container, options);

    /// <summary>The blob-store URI forms this store answers to (for <c>--help</c> texts).</summary>
    public const string UriHelp =
        "azure://CONTAINER (connection string from $AZURE_STORAGE_CONNECTION_STRING) or azure://CONTAINER?connection-env=VAR";

    /// <summary>The environment variable read when the URI names none (the name Azure's own tools use).</summary>
    public const string DefaultConnectionVariable = "AZURE_STORAGE_CONNECTION_STRING";

    /// <summary>
    /// Opens a store from <c>azure://CONTAINER[?connection-env=VAR]</c>. The connection string (with
    /// its key) is read from an environment variable, so that the URI itself, which ends up in
    /// logs and command lines, never carries a secret.
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
        var variable = DefaultConnectionVariable;
        foreach (var pair in (q < 0 ? "" : rest[(q + 1)..]).Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var name = eq < 0 ? pair : pair[..eq];
            if (name != "connection-env" || eq < 0 || eq == pair.Length - 1)
                throw new ArgumentException($"Azure blob URI: the only query parameter is connection-env=VARIABLE; expected {UriHelp}", nameof(uri));
            variable = pair[(eq + 1)..];
        }
        var connection = environment(variable);
        if (string.IsNullOrWhiteSpace(connection))
            throw new ArgumentException($"Azure blob URI for container '{container}': environment variable {variable} is not set (it must hold the storage connection string)", nameof(uri));
        return FromConnectionString(connection, container, options);
    }

    public string Container { get; }

    public string Describe() => $"azure container '{Container}' of account '{_account.AccountName}' at {_account.BlobEndpoint}";

    public override string ToString() => Describe();

    public void Dispose() => _http.Dispose();

    // ---- writes ------------------------------------------------------------------------------

    public async Task<BlobInfo> PutAsync(string path, Stream content, CancellationToken cancel = default)
    {
        BlobPath.Validate(path);
        ArgumentNullException.ThrowIfNull(content);
        await EnsureContainerAsync(cancel);

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
            var body = buffer.AsMemory(0, n);
            var md5 = MD5.HashData(body.Span);
            var shaHex = Convert.ToHexStringLower(sha.GetHashAndReset());
            using var response = await SendAsync($"put {path}", () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, BlobUri(path)) { Content = Body(body, md5) };
                request.Headers.Add("x-ms-blob-type", "BlockBlob");
                request.Headers.Add("x-ms-meta-" + ShaMetadata, shaHex);
                return request;
            }, cancel);
            await EnsureSuccessAsync(response, $"put {path}");
            return new BlobInfo(path, total, LastModified(response), shaHex);
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
                pending.Add((StageBlockAsync(path, blockIds.Count, blockId, buffer.AsMemory(0, n), abort.Token), buffer));
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
        var contentMd5 = Convert.ToBase64String(wholeMd5.GetHashAndReset());
        var list = new StringBuilder("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        foreach (var id in blockIds)
            list.Append("<Latest>").Append(id).Append("</Latest>");
        var listBody = Encoding.UTF8.GetBytes(list.Append("</BlockList>").ToString());
        var listMd5 = MD5.HashData(listBody);
        using var commit = await SendAsync($"commit {path}", () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, BlobUri(path, "comp=blocklist")) { Content = Body(listBody, listMd5) };
            request.Headers.Add("x-ms-blob-content-md5", contentMd5);
            request.Headers.Add("x-ms-meta-" + ShaMetadata, sha256);
            return request;
        }, cancel);
        await EnsureSuccessAsync(commit, $"commit {path}");
        return new BlobInfo(path, total, LastModified(commit), sha256);
    }

    private async Task StageBlockAsync(string path, int index, string blockId, ReadOnlyMemory<byte> body, CancellationToken cancel)
    {
        var md5 = MD5.HashData(body.Span);
        using var response = await SendAsync($"put block {index} of {path}", () =>
            new HttpRequestMessage(HttpMethod.Put, BlobUri(path, $"comp=block&blockid={Uri.EscapeDataString(blockId)}")) { Content = Body(body, md5) }, cancel);
        await EnsureSuccessAsync(response, $"put block {index} of {path}");
    }

    public async Task<bool> DeleteAsync(string path, CancellationToken cancel = default)
    {
        BlobPath.Validate(path);
        using var response = await SendAsync($"delete {path}", () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Delete, BlobUri(path));
            request.Headers.Add("x-ms-delete-snapshots", "include");
            return request;
        }, cancel);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return false;
        await EnsureSuccessAsync(response, $"delete {path}");
        return true;
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
        string? etag = null;
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
        string? marker = null;
        do
        {
            var query = $"restype=container&comp=list&include=metadata&maxresults={_options.ListPageSize}";
            if (prefix.Length > 0)
                query += "&prefix=" + Uri.EscapeDataString(prefix);
            if (marker != null)
                query += "&marker=" + Uri.EscapeDataString(marker);
            XDocument page;
            using (var response = await SendAsync($"list '{prefix}'", () => new HttpRequestMessage(HttpMethod.Get, $"{_containerUri}?{query}"), cancel))
            {
                if (response.StatusCode == HttpStatusCode.NotFound)
                    yield break; // no container yet: nothing was ever written
                await EnsureSuccessAsync(response, $"list '{prefix}'");
                page = XDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
            }
            var root = page.Root ?? throw new AzureBlobException($"list '{prefix}' in {Describe()}: empty response");
            foreach (var blob in root.Element("Blobs")?.Elements("Blob") ?? [])
            {
                var name = (string?)blob.Element("Name") ?? throw new AzureBlobException($"list '{prefix}' in {Describe()}: a blob without a name");
                var props = blob.Element("Properties");
                var size = long.Parse((string?)props?.Element("Content-Length") ?? "0", CultureInfo.InvariantCulture);
                var modified = DateTimeOffset.Parse((string?)props?.Element("Last-Modified") ?? "", CultureInfo.InvariantCulture);
                var sha = (string?)blob.Element("Metadata")?.Element(ShaMetadata);
                yield return new BlobInfo(name, size, modified, sha);
            }
            marker = (string?)root.Element("NextMarker");
        }
        while (!string.IsNullOrEmpty(marker));
    }

    // ---- pieces ------------------------------------------------------------------------------

    private sealed record Properties(BlobInfo Info, string ETag);

    private sealed record Chunk(byte[] Data, long Size, string ETag);

    private async Task<Properties?> GetPropertiesAsync(string path, CancellationToken cancel)
    {
        using var response = await SendAsync($"get properties of {path}", () => new HttpRequestMessage(HttpMethod.Head, BlobUri(path)), cancel);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return null;
        await EnsureSuccessAsync(response, $"get properties of {path}");
        var size = response.Content.Headers.ContentLength ?? throw new AzureBlobException($"get properties of {path}: no Content-Length");
        var sha = response.Headers.TryGetValues("x-ms-meta-" + ShaMetadata, out var v) ? v.First() : null;
        return new Properties(new BlobInfo(path, size, LastModified(response), sha), response.Headers.ETag?.Tag ?? "");
    }

    /// <summary>One range, checked against the service's MD5 of it; null when <paramref name="offset"/> is at or past the end.</summary>
    private async Task<Chunk?> GetRangeAsync(string path, long offset, int length, string? etag, CancellationToken cancel)
    {
        using var response = await SendAsync($"read {path}", () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, BlobUri(path));
            request.Headers.Add("x-ms-range", $"bytes={offset}-{offset + length - 1}");
            request.Headers.Add("x-ms-range-get-content-md5", "true");
            if (etag != null)
                request.Headers.TryAddWithoutValidation("If-Match", etag); // the object must not change between chunks
            return request;
        }, cancel);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new BlobNotFoundException(Describe(), path);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            return null;
        if (response.StatusCode == HttpStatusCode.PreconditionFailed)
            throw new AzureBlobException($"blob '{path}' in {Describe()} was replaced while it was being read", 412, "ConditionNotMet");
        await EnsureSuccessAsync(response, $"read {path}");
        var data = await response.Content.ReadAsByteArrayAsync(cancel);
        if (data.Length == 0)
            return null; // Azurite answers a range starting exactly at the end with an empty 206 where Azure says 416
        var expected = response.Content.Headers.ContentMD5
            ?? throw new BlobCorruptedException(Describe(), path, $"the service sent no Content-MD5 for bytes {offset}..");
        if (!MD5.HashData(data).AsSpan().SequenceEqual(expected))
            throw new BlobCorruptedException(Describe(), path, $"bytes {offset}..{offset + data.Length - 1} do not match their Content-MD5");
        var size = response.Content.Headers.ContentRange?.Length
            ?? throw new AzureBlobException($"read {path}: the service sent no Content-Range");
        return new Chunk(data, size, response.Headers.ETag?.Tag ?? "");
    }

    private Task EnsureContainerAsync(CancellationToken cancel)
    {
        // Once per store; a failed attempt is forgotten so that the next write tries again.
        var ready = _containerReady;
        if (ready is { IsCompletedSuccessfully: true })
            return ready;
        if (ready is null || ready.IsFaulted || ready.IsCanceled)
            _containerReady = ready = CreateContainerAsync(cancel);
        return ready;
    }

    private async Task CreateContainerAsync(CancellationToken cancel)
    {
        using var response = await SendAsync($"create container {Container}", () => new HttpRequestMessage(HttpMethod.Put, $"{_containerUri}?restype=container"), cancel);
        if (response.StatusCode == HttpStatusCode.Conflict)
            return; // ContainerAlreadyExists
        await EnsureSuccessAsync(response, $"create container {Container}");
    }

    /// <summary>
    /// Sends a freshly built and signed request, retrying transient statuses and transport errors with
    /// exponential backoff and full jitter. The caller's cancellation is never retried.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(string what, Func<HttpRequestMessage> build, CancellationToken cancel)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = build();
            request.Headers.Add("x-ms-version", ApiVersion);
            _account.Signer.Sign(request, DateTimeOffset.UtcNow);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(_options.RequestTimeout);
            string failure;
            Exception? error = null;
            try
            {
                var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
                if (!Transient.Contains(response.StatusCode) || attempt >= _options.MaxAttempts)
                    return response;
                failure = $"{(int)response.StatusCode} {response.ReasonPhrase}";
                response.Dispose();
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                error = e;
                failure = e is OperationCanceledException ? $"no answer within {_options.RequestTimeout.TotalSeconds:0.#} s" : e.Message;
                if (attempt >= _options.MaxAttempts)
                    throw new AzureBlobException($"{what} in {Describe()} failed after {attempt} attempts: {failure}", inner: e);
            }
            var ceiling = Math.Min(_options.RetryMaxDelay.TotalMilliseconds, _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
            var delay = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
            _options.Log?.Invoke($"azure: {what}: {failure}; retry {attempt}/{_options.MaxAttempts - 1} in {delay.TotalMilliseconds:0} ms{(error is null ? "" : $" ({error.GetType().Name})")}");
            await Task.Delay(delay, cancel);
        }
    }

    /// <summary>Throws a clear exception for a non-success status, with the service's error code and the first line of its message.</summary>
    private async Task EnsureSuccessAsync(HttpResponseMessage response, string what)
    {
        if (response.IsSuccessStatusCode)
            return;
        var code = response.Headers.TryGetValues("x-ms-error-code", out var codes) ? codes.First() : null;
        string? message = null;
        try
        {
            var body = await response.Content.ReadAsStringAsync();
            if (body.Length > 0 && body.TrimStart().StartsWith('<'))
            {
                var error = XDocument.Parse(body).Root;
                code ??= (string?)error?.Element("Code");
                // Only the first line: the rest is request id and time; the authentication detail element is never used.
                message = ((string?)error?.Element("Message"))?.Split('\n')[0].Trim();
            }
        }
        catch (System.Xml.XmlException) { }
        throw new AzureBlobException(
            $"{what} in {Describe()} failed: {(int)response.StatusCode} {code ?? response.ReasonPhrase}{(message is null ? "" : $": {message}")}",
            (int)response.StatusCode, code);
    }

    private string BlobUri(string path, string? query = null)
    {
        var escaped = string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
        return query is null ? $"{_containerUri}/{escaped}" : $"{_containerUri}/{escaped}?{query}";
    }

    private static ByteArrayContentSlice Body(ReadOnlyMemory<byte> body, byte[] md5)
    {
        var content = new ByteArrayContentSlice(body);
        content.Headers.ContentLength = body.Length;
        content.Headers.ContentMD5 = md5;
        return content;
    }

    private static DateTimeOffset LastModified(HttpResponseMessage response) =>
        response.Content.Headers.LastModified ?? DateTimeOffset.UtcNow;

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

    /// <summary>Request body over a slice of a reused buffer, with no copy.</summary>
    private sealed class ByteArrayContentSlice(ReadOnlyMemory<byte> body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            stream.WriteAsync(body).AsTask();

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            stream.WriteAsync(body, cancellationToken).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
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
