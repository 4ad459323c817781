using System.Text.Json;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Leases;
using GidCluster.Grains.Store;

namespace GidCluster.Grains.Ingestion;

/// <summary>Runs one video grain: the job's pipeline's processor on the video, outputs under its deterministic prefix.</summary>
public sealed class VideoGrainHandler(IBlobStore blobs) : IGrainHandler
{
    public string Kind => GrainKinds.Video;

    public async Task<string> ExecuteAsync(Lease lease, ILeaseGuard guard, CancellationToken cancel)
    {
        var input = JsonSerializer.Deserialize<VideoGrainInput>(lease.Input, IngestionJobs.Json)!;
        var pipeline = IngestionGrains.Pipeline(input.Pipeline);
        var result = await pipeline.Processor.ProcessAsync(new VideoWork(input.VideoUri, input.VideoId, input.OutputPrefix), new FencedBlobStore(blobs, guard), guard, cancel);
        return JsonSerializer.Serialize(result, IngestionJobs.Json);
    }
}

/// <summary>Runs the statistics merge: reads every finished video's result from the store and writes the manifest.</summary>
public sealed class MergeGrainHandler(IClusterStore store, IBlobStore blobs) : IGrainHandler
{
    public string Kind => GrainKinds.StatisticsMerge;

    public async Task<string> ExecuteAsync(Lease lease, ILeaseGuard guard, CancellationToken cancel)
    {
        var input = JsonSerializer.Deserialize<MergeGrainInput>(lease.Input, IngestionJobs.Json)!;
        var pipeline = IngestionGrains.Pipeline(input.Pipeline);
        var videos = (await store.ListGrainsAsync(lease.JobId, cancel))
            .Where(g => g.Kind == GrainKinds.Video)
            .Select(g =>
            {
                if (g.State != GrainStates.Done)
                    throw new InvalidOperationException($"merge started before video grain '{g.Id}' was done (state {g.State})");
                var v = JsonSerializer.Deserialize<VideoGrainInput>(g.Input, IngestionJobs.Json)!;
                return new MergedVideo(v.VideoId, v.VideoUri, JsonSerializer.Deserialize<VideoResult>(g.Result!, IngestionJobs.Json)!);
            })
            .OrderBy(v => v.VideoId, StringComparer.Ordinal)
            .ToList();
        var result = await pipeline.Merge.MergeAsync(input.DatasetPrefix, videos, new FencedBlobStore(blobs, guard), guard, cancel);
        return JsonSerializer.Serialize(result, IngestionJobs.Json);
    }
}

public static class IngestionGrains
{
    public static IngestionPipeline Pipeline(string name) =>
        IngestionPipelines.TryCreate(name, out var p) ? p
            : throw new InvalidOperationException($"this silo does not have the ingestion pipeline '{name}' (it has: {string.Join(", ", IngestionPipelines.Names)})");
}
