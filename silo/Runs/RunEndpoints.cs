using GidCluster.Contracts;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Runs;

/// <summary><c>/api/runs</c>: training runs (their grains) and their checkpoints in the blob store.</summary>
public static class RunEndpoints
{
    public static void MapRuns(this WebApplication app)
    {
        app.MapGet("/api/runs", async (IGrainFactory grains) => Results.Ok(await ListAsync(grains)));
        app.MapGet("/api/runs/{run}/checkpoints", async (IGrainFactory grains, string run) =>
        {
            var grain = grains.GetGrain<ITrainingRunGrain>(run);
            return await grain.GetView() == null ? ApiResults.NotFound($"no training run '{run}'") : Results.Ok(await grain.ListCheckpoints());
        });
    }

    /// <summary>Every run in the catalog, newest first.</summary>
    public static async Task<List<RunView>> ListAsync(IGrainFactory grains, int limit = 1000)
    {
        var runs = new List<RunView>();
        foreach (var id in await grains.GetGrain<ICatalogGrain>(Catalogs.TrainingRuns).List(limit))
        {
            if (await grains.GetGrain<ITrainingRunGrain>(id).GetView() is { } view)
                runs.Add(view);
        }
        return runs;
    }
}
