using GidCluster.Contracts;
using GidCluster.Grains.Store;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Runs;

/// <summary><c>/api/runs</c>: training runs (created by the training launcher) and their checkpoints in the blob store.</summary>
public static class RunEndpoints
{
    public static void MapRuns(this WebApplication app)
    {
        app.MapGet("/api/runs", async (IClusterStore store, CancellationToken cancel) =>
        {
            var runs = new List<RunView>();
            foreach (var job in await store.ListJobsAsync(JobKinds.TrainingRun, 1000, cancel))
            {
                var files = await store.ListCheckpointFilesAsync(job.Id, cancel);
                var steps = files.Select(f => f.Step).Distinct().ToList();
                runs.Add(new RunView(job.Id, job.State, ApiResults.Time(job.CreatedAt), ApiResults.Time(job.UpdatedAt), steps.Count, steps.Count == 0 ? null : steps.Max(), job.Error));
            }
            return Results.Ok(runs);
        });
        app.MapGet("/api/runs/{run}/checkpoints", async (IClusterStore store, string run, CancellationToken cancel) =>
        {
            var job = await store.GetJobAsync(run, cancel);
            if (job == null || job.Kind != JobKinds.TrainingRun)
                return ApiResults.NotFound($"no training run '{run}'");
            var files = await store.ListCheckpointFilesAsync(run, cancel);
            return Results.Ok(files.GroupBy(f => f.Step).OrderBy(g => g.Key).Select(g => new CheckpointView(run, g.Key,
                ApiResults.Time(g.Max(f => f.CreatedAt)), g.Select(f => new CheckpointFileView(f.BlobPath, f.Size, f.Sha256)).ToList())));
        });
    }
}
