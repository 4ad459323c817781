using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Leases;
using GidCluster.Grains.Store;
using GidCluster.Silo.Auth;
using GidCluster.Silo.Blobs;
using GidCluster.Silo.Cluster;
using GidCluster.Silo.Dashboard;
using GidCluster.Silo.Ingestion;
using GidCluster.Silo.Runs;
using GidCluster.Silo.Workers;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace GidCluster.Silo.Hosting;

/// <summary>Builds the silo: the same app for <c>GidCluster.Silo</c>, <c>gid silo</c>, <c>gid up</c> and the tests.</summary>
public static class SiloHost
{
    public static WebApplication Build(SiloOptions options, Action<ILoggingBuilder>? logging = null)
    {
        options.Validate(); // also registers the dataprep pipeline
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.Drain + TimeSpan.FromSeconds(10));
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(_ => StoreUri.Open(options.Store));
        builder.Services.AddSingleton(_ => BlobStoreUri.Open(options.Blob));
        builder.Services.AddSingleton(new VideoSources(options.AllowedRoots));
        builder.Services.AddMembership();
        if (options.IsWorker)
            builder.Services.AddWorker();
        if (options.IsCoordinator)
            builder.Services.AddScheduler();

        var app = builder.Build();
        app.MapHealth();
        if (options.IsCoordinator)
        {
            app.UseTokenAuthentication(options.Token!);
            app.MapIngestion();
            app.MapRuns();
            app.MapCluster();
            app.MapBlobs();
            app.MapDashboard();
        }
        return app;
    }

    /// <summary>Migrates the store, then starts the app; returns once it listens.</summary>
    public static async Task StartAsync(WebApplication app, CancellationToken cancel = default)
    {
        await app.Services.GetRequiredService<IClusterStore>().MigrateAsync(cancel);
        await app.StartAsync(cancel);
    }

    /// <summary>The address the silo actually listens on (after start; resolves port 0).</summary>
    public static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "";

    private static void MapHealth(this WebApplication app) =>
        app.MapGet("/healthz", (SiloOptions o) => Results.Ok(new { status = "ok", silo = o.Id, role = o.Role }));
}
