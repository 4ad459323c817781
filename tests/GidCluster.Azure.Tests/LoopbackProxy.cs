using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace GidCluster.Azure.Tests;

/// <summary>
/// A small HTTP proxy on loopback in front of Azurite that forwards requests unchanged (the
/// signature stays valid: it covers the path, not the host) and can misbehave on demand: answer
/// 503, drop the connection, or flip a byte in response bodies.
/// </summary>
public sealed class LoopbackProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None });
    private readonly Uri _target;
    private int _fail503;
    private int _drop;
    private int _requests;
    private int _inFlight;
    private int _maxInFlight;

    private LoopbackProxy(Uri target)
    {
        _target = target;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    /// <summary>Forwarding target: scheme, host and port of the real server.</summary>
    public static async Task<LoopbackProxy> StartAsync(Uri target)
    {
        var proxy = new LoopbackProxy(target);
        await proxy._app.StartAsync();
        return proxy;
    }

    public Uri Address => new(_app.Urls.First());

    /// <summary>The next <paramref name="count"/> requests get 503 Service Unavailable without reaching the server.</summary>
    public void Fail503(int count) => Interlocked.Exchange(ref _fail503, count);

    /// <summary>The next <paramref name="count"/> requests have their connection aborted (a transport error).</summary>
    public void Drop(int count) => Interlocked.Exchange(ref _drop, count);

    /// <summary>When set, the first byte of every non-empty GET response body is flipped on the way back.</summary>
    public bool CorruptBodies { get; set; }

    /// <summary>Requests seen, with their method and raw target, for checking what the client did.</summary>
    public List<string> Log { get; } = [];

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Each forwarded request waits this long first, so that overlapping requests can be observed.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>The most requests that were being forwarded at the same time.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        var raw = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        lock (Log) Log.Add($"{context.Request.Method} {raw}");
        if (Interlocked.Decrement(ref _fail503) >= 0)
        {
            context.Response.StatusCode = 503;
            return;
        }
        if (Interlocked.Decrement(ref _drop) >= 0)
        {
            context.Abort();
            return;
        }

        var now = Interlocked.Increment(ref _inFlight);
        try
        {
            int seen;
            while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
            if (Delay > TimeSpan.Zero)
                await Task.Delay(Delay);
            await ForwardAsync(context, raw);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task ForwardAsync(HttpContext context, string raw)
    {
        using var forward = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(_target, raw));
        var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        if (body.Length > 0 || context.Request.ContentLength is not null)
            forward.Content = new ByteArrayContent(body.ToArray());
        foreach (var (name, values) in context.Request.Headers)
        {
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                continue;
            if (!forward.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                forward.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }

        using var response = await _upstream.SendAsync(forward, HttpCompletionOption.ResponseContentRead);
        var payload = await response.Content.ReadAsByteArrayAsync();
        if (CorruptBodies && context.Request.Method == "GET" && payload.Length > 0)
            payload[0] ^= 0x5A;
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                continue;
            context.Response.Headers[name] = values.ToArray();
        }
        context.Response.ContentLength = response.Content.Headers.ContentLength ?? payload.Length;
        if (context.Request.Method != "HEAD")
            await context.Response.Body.WriteAsync(payload);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
