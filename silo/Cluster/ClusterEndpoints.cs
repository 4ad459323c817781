using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Cluster;

/// <summary><c>/api/cluster</c> (silos, from Orleans membership) and <c>/api/events</c> (the jobs' recent events).</summary>
public static class ClusterEndpoints
{
    public static void MapCluster(this WebApplication app)
    {
        app.MapGet("/api/cluster", async (IGrainFactory grains, Orleans.Runtime.IClusterManifestProvider manifests, IBlobStore blobs, SiloOptions options) =>
        {
            var silos = await ClusterSilos.ListAsync(grains, manifests);
            return Results.Ok(new ClusterView($"sqlite:{Path.GetFileName(options.Store["sqlite:".Length..])}", blobs.Describe(), IngestionPipelines.Names.ToList(), silos.Select(s => s.View).ToList()));
        });
        app.MapGet("/api/events", async (IGrainFactory grains, string? job, int? limit) =>
        {
            if (limit is < 1 or > 10000)
                return ApiResults.BadRequest("limit", "limit must be between 1 and 10000");
            return Results.Ok(await EventsAsync(grains, job, limit ?? 100));
        });
    }

    /// <summary>One job's events, or the recent jobs' together, newest first.</summary>
    public static async Task<List<EventView>> EventsAsync(IGrainFactory grains, string? job, int limit)
    {
        var ids = job != null ? [job] : await grains.GetGrain<ICatalogGrain>(Catalogs.IngestionJobs).List(20);
        var events = new List<EventView>();
        foreach (var id in ids)
            events.AddRange(await grains.GetGrain<IIngestionJobGrain>(id).GetEvents(limit));
        return events.OrderByDescending(e => e.At).Take(limit).ToList();
    }
}
