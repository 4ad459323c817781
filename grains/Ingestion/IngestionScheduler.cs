using System.Text.Json;
using GidCluster.Grains.Store;

namespace GidCluster.Grains.Ingestion;

/// <summary>
/// The coordinator's part of an ingestion: moves jobs along from their grains' states. Every
/// step is idempotent (deterministic grain ids, compare-and-set transitions), so a coordinator
/// killed at any point and restarted simply continues.
/// </summary>
public sealed class IngestionScheduler(IClusterStore store)
{
    /// <summary>One pass over the running jobs; returns how many changed state.</summary>
    public async Task<int> PassAsync(CancellationToken cancel = default)
    {
        await store.QuarantineExhaustedAsync(cancel);
        var changed = 0;
        foreach (var job in await store.ListJobsInStatesAsync([JobStates.Running, JobStates.Merging], cancel))
        {
            if (job.Kind != JobKinds.Ingestion)
                continue;
            if (await AdvanceAsync(job, cancel))
                changed++;
        }
        return changed;
    }

    private async Task<bool> AdvanceAsync(JobRecord job, CancellationToken cancel)
    {
        var grains = await store.ListGrainsAsync(job.Id, cancel);
        var videos = grains.Where(g => g.Kind == GrainKinds.Video).ToList();
        var broken = videos.Where(g => g.State == GrainStates.Quarantined).ToList();
        if (broken.Count > 0)
        {
            var error = $"{broken.Count} of {videos.Count} videos failed: " + string.Join("; ", broken.Select(g => $"{g.Id}: {g.Error}"));
            return await FinishAsync(job, JobStates.Failed, null, error, cancel);
        }
        if (job.State == JobStates.Running)
        {
            if (videos.Any(g => g.State != GrainStates.Done))
                return false;
            var spec = JsonSerializer.Deserialize<IngestionSpec>(job.Spec, IngestionJobs.Json)!;
            var input = new MergeGrainInput(spec.DatasetPrefix, spec.Pipeline);
            await store.AddGrainAsync(new NewGrain(IngestionJobs.MergeGrainId(job.Id), job.Id, GrainKinds.StatisticsMerge, JsonSerializer.Serialize(input, IngestionJobs.Json), spec.MaxAttempts), cancel);
            if (!await store.TransitionJobAsync(job.Id, JobStates.Running, JobStates.Merging, null, null, cancel))
                return false;
            await store.AddEventAsync(job.Id, null, null, "job.merging", $"all {videos.Count} videos done; merging statistics", cancel);
            return true;
        }
        var merge = grains.SingleOrDefault(g => g.Kind == GrainKinds.StatisticsMerge);
        return merge?.State switch
        {
            GrainStates.Done => await FinishAsync(job, JobStates.Succeeded, merge.Result, null, cancel),
            GrainStates.Quarantined => await FinishAsync(job, JobStates.Failed, null, $"statistics merge failed: {merge.Error}", cancel),
            _ => false,
        };
    }

    private async Task<bool> FinishAsync(JobRecord job, string state, string? result, string? error, CancellationToken cancel)
    {
        if (!await store.TransitionJobAsync(job.Id, job.State, state, result, error, cancel))
            return false;
        await store.AddEventAsync(job.Id, null, null, $"job.{state}", error ?? "manifest written", cancel);
        return true;
    }
}
