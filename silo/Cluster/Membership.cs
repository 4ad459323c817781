using System.Diagnostics;
using System.Text.Json;
using GidCluster.Grains.Leases;
using GidCluster.Grains.Store;
using GidCluster.Silo.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace GidCluster.Silo.Cluster;

/// <summary>
/// Silo membership: registers this silo, heartbeats it with CPU, memory and grain counts (also
/// recorded as metrics), marks it draining on shutdown and stopped once drained.
/// </summary>
public sealed class MembershipService(IClusterStore store, SiloOptions options, IServer server, IServiceProvider services, ILogger<MembershipService> logger)
    : BackgroundService
{
    private TimeSpan _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
    private long _lastAt = Stopwatch.GetTimestamp();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await BeatAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("membership heartbeat failed: {Error}", e.Message);
            }
            try { await Task.Delay(options.Heartbeat, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task BeatAsync(CancellationToken cancel)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var now = Stopwatch.GetTimestamp();
        var cpuPercent = 100 * (cpu - _lastCpu).TotalSeconds / Math.Max(1e-3, Stopwatch.GetElapsedTime(_lastAt, now).TotalSeconds);
        (_lastCpu, _lastAt) = (cpu, now);
        var worker = services.GetService<GrainWorker>();
        var info = new
        {
            pid = Environment.ProcessId,
            cpuPercent = Math.Round(cpuPercent, 1),
            workingSetMb = Math.Round(process.WorkingSet64 / 1048576.0, 1),
            busy = worker?.Busy ?? 0,
            grainsDone = worker?.Done ?? 0,
            slots = options.IsWorker ? options.Slots : 0,
        };
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "";
        await store.UpsertSiloAsync(options.Id, options.Role, address, JsonSerializer.Serialize(info), cancel);
        await store.AddMetricAsync(options.Id, "cpu_percent", info.cpuPercent, cancel);
        await store.AddMetricAsync(options.Id, "working_set_mb", info.workingSetMb, cancel);
        if (worker != null)
            await store.AddMetricAsync(options.Id, "grains_done", info.grainsDone, cancel);
    }
}

/// <summary>Marks the silo draining when shutdown begins, and stopped after every hosted service (the worker) has drained.</summary>
public sealed class MembershipLifecycle(IClusterStore store, SiloOptions options) : IHostedLifecycleService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => store.SetSiloStateAsync(options.Id, "draining", cancellationToken);
    public Task StoppedAsync(CancellationToken cancellationToken) => store.SetSiloStateAsync(options.Id, "stopped", cancellationToken);
}

public static class MembershipRegistration
{
    public static IServiceCollection AddMembership(this IServiceCollection services)
    {
        services.AddHostedService<MembershipService>();
        services.AddHostedService<MembershipLifecycle>();
        return services;
    }
}
