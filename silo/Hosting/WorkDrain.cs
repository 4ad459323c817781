using GidCluster.Grains.Work;

namespace GidCluster.Silo.Hosting;

/// <summary>
/// On SIGTERM the silo's running work gets <see cref="SiloOptions.Drain"/> to finish and report before Orleans stops:
/// registered after Orleans, this service is stopped before it, while grain calls still work. Work not yet started is
/// left to its grain's reminder, which runs it on another silo once this one has left.
/// </summary>
public sealed class WorkDrain(WorkSlots slots, TimeSpan limit) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => slots.DrainAsync(limit, cancellationToken);
}
