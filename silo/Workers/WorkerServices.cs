using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Leases;
using GidCluster.Grains.Store;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Workers;

/// <summary>The worker role as a hosted service: runs a <see cref="GrainWorker"/> until shutdown, draining on SIGTERM.</summary>
public sealed class WorkerService(GrainWorker worker) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => worker.RunAsync(stoppingToken);
}

/// <summary>The coordinator's scheduling loop: advances ingestion jobs and quarantines exhausted grains.</summary>
public sealed class SchedulerService(IClusterStore store, SiloOptions options, ILogger<SchedulerService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var scheduler = new IngestionScheduler(store);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await scheduler.PassAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning("scheduling pass failed: {Error}", e.Message);
            }
            try { await Task.Delay(options.Poll, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}

public static class WorkerRegistration
{
    public static IServiceCollection AddWorker(this IServiceCollection services)
    {
        services.AddSingleton<IGrainHandler>(sp => new VideoGrainHandler(sp.GetRequiredService<IBlobStore>()));
        services.AddSingleton<IGrainHandler>(sp => new MergeGrainHandler(sp.GetRequiredService<IClusterStore>(), sp.GetRequiredService<IBlobStore>()));
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<SiloOptions>();
            return new GrainWorker(sp.GetRequiredService<IClusterStore>(), sp.GetServices<IGrainHandler>(),
                new WorkerOptions(o.Id, o.LeaseFor, o.Poll, o.Drain, o.Slots), sp.GetRequiredService<ILoggerFactory>().CreateLogger<GrainWorker>());
        });
        services.AddHostedService<WorkerService>();
        return services;
    }

    public static IServiceCollection AddScheduler(this IServiceCollection services) => services.AddHostedService<SchedulerService>();
}
