using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Store;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Cluster;

/// <summary><c>/api/cluster</c> (silos), <c>/api/events</c>, <c>/api/metrics</c>.</summary>
public static class ClusterEndpoints
{
    public static void MapCluster(this WebApplication app)
    {
        app.MapGet("/api/cluster", async (IClusterStore store, IBlobStore blobs, SiloOptions options, CancellationToken cancel) =>
        {
            var now = store.Now();
            // A silo is alive while its heartbeat is younger than three heartbeat intervals.
            var stale = (long)(3 * options.Heartbeat.TotalMilliseconds);
            var silos = (await store.ListSilosAsync(cancel)).Select(s => new SiloView(s.Id, s.Role, s.Address, s.State,
                ApiResults.Time(s.StartedAt), ApiResults.Time(s.HeartbeatAt), s.State != "stopped" && now - s.HeartbeatAt < stale, s.Info)).ToList();
            return Results.Ok(new ClusterView(store.Describe(), blobs.Describe(), IngestionPipelines.Names.ToList(), silos));
        });
        app.MapGet("/api/events", async (IClusterStore store, string? job, int? limit, CancellationToken cancel) =>
        {
            if (limit is < 1 or > 10000)
                return ApiResults.BadRequest("limit", "limit must be between 1 and 10000");
            var events = await store.ListEventsAsync(job, limit ?? 100, cancel);
            return Results.Ok(events.Select(e => new EventView(e.Id, ApiResults.Time(e.At), e.JobId, e.GrainId, e.SiloId, e.Kind, e.Message)));
        });
        app.MapGet("/api/metrics", async (IClusterStore store, string? name, long? sinceMs, CancellationToken cancel) =>
        {
            var since = sinceMs ?? store.Now() - 3_600_000;
            var metrics = await store.ListMetricsAsync(name, since, cancel);
            return Results.Ok(metrics.Select(m => new MetricView(ApiResults.Time(m.At), m.SiloId, m.Name, m.Value)));
        });
    }
}
