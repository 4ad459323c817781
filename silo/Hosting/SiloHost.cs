using GidCluster.Grains;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Catalog;
using GidCluster.Grains.Datasets;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Sqlite;
using GidCluster.Grains.Storage;
using GidCluster.Grains.Training;
using GidCluster.Grains.Work;
using GidCluster.Silo.Auth;
using GidCluster.Silo.Blobs;
using GidCluster.Silo.Cluster;
using GidCluster.Silo.Dashboard;
using GidCluster.Silo.Ingestion;
using GidCluster.Silo.Runs;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace GidCluster.Silo.Hosting;

/// <summary>
/// Builds the silo: an Orleans silo and an HTTP host in one process, the same app for
/// <c>GidCluster.Silo</c>, <c>gid silo</c>, <c>gid up</c> and the tests.
/// </summary>
public static class SiloHost
{
    /// <summary>Grain classes each role hosts: the coordinator keeps jobs and catalogs, workers take the work.</summary>
    private static readonly Type[] CoordinatorGrains = [typeof(IngestionJobGrain), typeof(CatalogGrain), typeof(TrainingRunGrain)];
    private static readonly Type[] WorkerGrains = [typeof(VideoGrain), typeof(DatasetGrain)];

    /// <summary>Keeps only the grain classes of the silo's role(s), so placement puts each grain on a silo of its role.</summary>
    public static void HostRoleGrains(GrainTypeOptions grainTypes, bool coordinator, bool worker)
    {
        foreach (var type in coordinator ? [] : CoordinatorGrains)
            grainTypes.Classes.Remove(type);
        foreach (var type in worker ? [] : WorkerGrains)
            grainTypes.Classes.Remove(type);
    }

    public static WebApplication Build(SiloOptions options, Action<ILoggingBuilder>? logging = null)
    {
        options.Validate(); // also registers the dataprep pipeline
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        // Orleans' placement retries log every attempt through Polly at Information.
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        // Start-up notes about GC modes and the watchdog's first check are not operators' business.
        builder.Logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error);
        builder.Logging.AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error);
        logging?.Invoke(builder.Logging);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(options.Grains);
        builder.Services.AddSingleton(_ => BlobStoreUri.Open(options.Blob));
        builder.Services.AddSingleton(new VideoSources(options.AllowedRoots));
        builder.Services.AddSingleton(sp => new WorkSlots(options.Slots, sp.GetRequiredService<ILogger<WorkSlots>>()));
        if (options.IsCoordinator)
        {
            builder.Services.AddSingleton<DashboardSessions>();
            builder.Services.AddSingleton<OrleansMeters>();
            builder.Services.AddAuthentication(GidAuthenticationHandler.SchemeName)
                .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, GidAuthenticationHandler>(GidAuthenticationHandler.SchemeName, null);
            builder.Services.AddAuthorization();
        }

        builder.UseOrleans(silo =>
        {
            var gateway = options.IsCoordinator ? options.GatewayPort : 0;
            if (options.IsAzure)
            {
                silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (options.ClusterId, options.ServiceId));
                silo.ConfigureEndpoints(options.Address, options.SiloPort, gateway, listenOnAnyHostAddress: false);
                AzureTableStore.FromUri(options.Store).AddProviders(silo);
                // In a pod: Orleans watches the pods and deletes those of silos declared dead, and marks silos whose pod is gone as dead.
                if (options.Pod != null)
                    silo.UseKubernetesHosting();
            }
            else
            {
                silo.UseLocalhostClustering(options.SiloPort, gateway, options.Primary, options.ServiceId, options.ClusterId);
                silo.AddSqliteProviders(SqliteFile.FromUri(options.Store));
            }
            silo.Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = options.Id);
            if (options.Tls is { } tls)
                silo.UseTls(tls.Configure);
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromTicks(Math.Min(o.MinimumReminderPeriod.Ticks, options.Reminder.Ticks)));
            // Fast failure detection: a dead silo is declared dead in about a second, so its work moves on.
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
            });
            // Jobs read each worker's slot count from here and keep at most that many of their videos on it.
            silo.UseSiloMetadata(new Dictionary<string, string> { [WorkSlots.MetadataKey] = options.Slots.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            // On every silo: the Orleans dashboard collects each silo's grain statistics there; coordinators serve its pages.
            silo.AddDashboard();
            silo.Services.PostConfigure<GrainTypeOptions>(o => HostRoleGrains(o, options.IsCoordinator, options.IsWorker));
        });

        // After UseOrleans, so it stops before the silo does: running work finishes and reports while grain calls work.
        builder.Services.AddHostedService(sp => new WorkDrain(sp.GetRequiredService<WorkSlots>(), options.Drain));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.Drain + TimeSpan.FromSeconds(30));

        var app = builder.Build();
        if (options.IsCoordinator)
            app.Services.GetRequiredService<OrleansMeters>(); // listening from the start, so counters count from the start
        app.MapHealth();
        if (options.IsCoordinator)
        {
            app.UseTokenAuthentication(options.Token!);
            app.UseAuthentication();
            app.UseAuthorization();
            DashboardSessions.MapSessions(app);
            // Orleans' own dashboard (silos, grain types, activations, calls), behind the same token via a session cookie.
            app.MapOrleansDashboard(routePrefix: "/orleans").RequireAuthorization();
            app.MapIngestion();
            app.MapRuns();
            app.MapCluster();
            app.MapBlobs();
            app.MapDashboard();
        }
        return app;
    }

    /// <summary>Starts the silo and the HTTP host; returns once both listen.</summary>
    public static Task StartAsync(WebApplication app, CancellationToken cancel = default) => app.StartAsync(cancel);

    /// <summary>The address the HTTP host actually listens on (after start; resolves port 0).</summary>
    public static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "";

    /// <summary>The gateway clients connect to, as IP:PORT (coordinator roles).</summary>
    public static string Gateway(SiloOptions options) => $"{options.Address}:{options.GatewayPort}";

    private static void MapHealth(this WebApplication app) =>
        app.MapGet("/healthz", (SiloOptions o) => Results.Ok(new { status = "ok", silo = o.Id, role = o.Role }));
}
