using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Dashboard;

/// <summary>
/// The live dashboard (coordinator only). <c>GET /dashboard</c> is a self-contained page holding no
/// data: it asks for the token, keeps it in sessionStorage and sends it as <c>Authorization: Bearer</c>
/// to the <c>/api/dashboard/*</c> routes, which the token middleware guards like the rest of <c>/api</c>.
/// <c>/api/dashboard/stream</c> pushes the snapshot as Server-Sent Events; <c>/api/dashboard/snapshot</c>
/// is the same JSON for polling; <c>/api/prometheus</c> is the text exposition format.
/// </summary>
public static partial class DashboardEndpoints
{
    /// <summary>How often a stream sends a snapshot; snapshots themselves are cached for <see cref="DashboardSnapshots.MaxAge"/>.</summary>
    public static readonly TimeSpan StreamInterval = TimeSpan.FromSeconds(2);

    /// <summary>Environment/configuration key for a fixed path prefix (e.g. <c>/gid</c>) when the proxy sends no X-Forwarded-Prefix.</summary>
    public const string PathBaseKey = "GID_PATH_BASE";

    public static void MapDashboard(this WebApplication app)
    {
        var snapshots = new DashboardSnapshots(app.Services.GetRequiredService<IGrainFactory>(), app.Services.GetRequiredService<Orleans.Runtime.IClusterManifestProvider>(),
            app.Services.GetRequiredService<IBlobStore>(), app.Services.GetRequiredService<SiloOptions>());
        var configured = app.Configuration[PathBaseKey];
        if (!string.IsNullOrEmpty(configured) && !PathPrefix().IsMatch(configured))
            throw new ArgumentException($"{PathBaseKey} must be a path like /gid (segments of letters, digits, '.', '_', '~', '-'), not '{configured}'");
        var stopping = app.Lifetime.ApplicationStopping;

        // Routing matches /dashboard/ too; the absolute base keeps relative links right either way.
        app.MapGet("/dashboard", (HttpContext context) => Page(context, configured));

        app.MapGet("/api/dashboard/snapshot", async (HttpContext context, CancellationToken cancel) =>
        {
            var (_, json) = await snapshots.GetAsync(cancel);
            context.Response.Headers.CacheControl = "no-store";
            return Results.Text(json, "application/json", Encoding.UTF8);
        });

        app.MapGet("/api/dashboard/stream", async (HttpContext context) =>
        {
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-store";
            // Tells nginx-style proxies not to buffer the stream.
            context.Response.Headers["X-Accel-Buffering"] = "no";
            try
            {
                while (!cancel.IsCancellationRequested)
                {
                    var (_, json) = await snapshots.GetAsync(cancel.Token);
                    await context.Response.WriteAsync($"event: snapshot\ndata: {json}\n\n", cancel.Token);
                    await context.Response.Body.FlushAsync(cancel.Token);
                    await Task.Delay(StreamInterval, cancel.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // The watcher left or the silo is stopping: the stream just ends.
            }
        });

        app.MapGet("/api/dashboard/spectrum", async (IGrainFactory grains, string? job) =>
        {
            if (string.IsNullOrEmpty(job))
                return ApiResults.BadRequest("job", "job is required (the id of the job whose spectrum to show)");
            var grain = grains.GetGrain<IIngestionJobGrain>(job);
            if (await grain.GetView(withVideos: false) == null)
                return ApiResults.NotFound($"no job '{job}'");
            var spectrum = DashboardSpectrum.From(job, await grain.GetSpectrum());
            return spectrum == null ? ApiResults.NotFound($"job '{job}' has no spectrum yet") : Results.Json(spectrum, DashboardSnapshots.Json);
        });

        app.MapGet("/api/prometheus", async (OrleansMeters orleans, CancellationToken cancel) =>
            Results.Text(PrometheusText.Write((await snapshots.GetAsync(cancel)).Snapshot, orleans), PrometheusText.ContentType, Encoding.UTF8));
    }

    /// <summary>The page, with its base URL set so every relative link resolves under the proxy's prefix.</summary>
    private static IResult Page(HttpContext context, string? configured)
    {
        var forwarded = context.Request.Headers["X-Forwarded-Prefix"].ToString().TrimEnd('/');
        // An unusable header is ignored rather than echoed into the page.
        var prefix = !string.IsNullOrEmpty(configured) ? configured.TrimEnd('/')
            : forwarded.Length > 0 && PathPrefix().IsMatch(forwarded) ? forwarded : "";
        var baseHref = prefix + context.Request.PathBase.Value + "/";
        var nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = $"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'self'; form-action 'none'; frame-ancestors 'none'";
        headers.CacheControl = "no-store";
        headers["Referrer-Policy"] = "no-referrer";
        headers["X-Content-Type-Options"] = "nosniff";
        var html = DashboardPage.Html.Replace("{{BASE}}", baseHref, StringComparison.Ordinal).Replace("{{NONCE}}", nonce, StringComparison.Ordinal);
        return Results.Content(html, "text/html; charset=utf-8");
    }

    [GeneratedRegex("^(/[A-Za-z0-9._~-]+)+/?$")]
    private static partial Regex PathPrefix();
}
