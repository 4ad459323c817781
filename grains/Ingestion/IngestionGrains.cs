using System.Text.Json;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Leases;
using GidCluster.Grains.Store;

namespace GidCluster.Grains.Ingestion;

/// <summary>
/// A video grain's result as the store keeps it: its outputs and rows, and where its statistics
/// sketch went. Sketches go to the blob store because they can be large (a dataprep sketch is
/// ~550 KB) and grain rows are read on every scheduling pass and status request.
/// </summary>
public sealed record StoredVideoResult(IReadOnlyList<OutputBlob> Blobs, long Rows, OutputBlob Sketch)
{
    /// <summary>The sketch's key under a video's output prefix (deterministic, like every output name).</summary>
    public static string SketchPath(string outputPrefix) => $"{outputPrefix}/statistics.sketch";
}

/// <summary>Runs one video grain: the job's pipeline's processor on the video, outputs under its deterministic prefix.</summary>
public sealed class VideoGrainHandler(IBlobStore blobs) : IGrainHandler
{
    public string Kind => GrainKinds.Video;

    public async Task<string> ExecuteAsync(Lease lease, ILeaseGuard guard, CancellationToken cancel)
    {
        var input = JsonSerializer.Deserialize<VideoGrainInput>(lease.Input, IngestionJobs.Json)!;
        var pipeline = IngestionGrains.Pipeline(input.Pipeline);
        var output = new FencedBlobStore(blobs, guard);
        var result = await pipeline.Processor.ProcessAsync(new VideoWork(input.VideoUri, input.VideoId, input.OutputPrefix), output, guard, cancel);
        var sketchPath = StoredVideoResult.SketchPath(input.OutputPrefix);
        var sketch = await output.PutAsync(sketchPath, new MemoryStream(result.Sketch, writable: false), cancel);
        return JsonSerializer.Serialize(new StoredVideoResult(result.Blobs, result.Rows, new OutputBlob(sketchPath, sketch.Size, sketch.Sha256!, 0)), IngestionJobs.Json);
    }
}

/// <summary>Runs the statistics merge: reads every finished video's result from the store and its sketch from the blob store, and writes the manifest.</summary>
public sealed class MergeGrainHandler(IClusterStore store, IBlobStore blobs) : IGrainHandler
{
    public string Kind => GrainKinds.StatisticsMerge;

    public async Task<string> ExecuteAsync(Lease lease, ILeaseGuard guard, CancellationToken cancel)
    {
        var input = JsonSerializer.Deserialize<MergeGrainInput>(lease.Input, IngestionJobs.Json)!;
        var pipeline = IngestionGrains.Pipeline(input.Pipeline);
        var videos = new List<MergedVideo>();
        foreach (var g in await store.ListGrainsAsync(lease.JobId, cancel))
        {
            if (g.Kind != GrainKinds.Video)
                continue;
            if (g.State != GrainStates.Done)
                throw new InvalidOperationException($"merge started before video grain '{g.Id}' was done (state {g.State})");
            var v = JsonSerializer.Deserialize<VideoGrainInput>(g.Input, IngestionJobs.Json)!;
            var stored = JsonSerializer.Deserialize<StoredVideoResult>(g.Result!, IngestionJobs.Json)!;
            var sketch = await ReadVerifiedAsync(stored.Sketch, cancel);
            videos.Add(new MergedVideo(v.VideoId, v.VideoUri, new VideoResult(stored.Blobs, stored.Rows, sketch)));
        }
        videos.Sort((a, b) => string.CompareOrdinal(a.VideoId, b.VideoId));
        var result = await pipeline.Merge.MergeAsync(input.DatasetPrefix, videos, new FencedBlobStore(blobs, guard), guard, cancel);
        return JsonSerializer.Serialize(result, IngestionJobs.Json);
    }

    private async Task<byte[]> ReadVerifiedAsync(OutputBlob blob, CancellationToken cancel)
    {
        using var buffer = new MemoryStream();
        await using (var stream = await blobs.OpenReadAsync(blob.Path, cancel))
            await stream.CopyToAsync(buffer, cancel);
        var bytes = buffer.ToArray();
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        if (bytes.Length != blob.Size || sha != blob.Sha256)
            throw new InvalidDataException($"statistics sketch '{blob.Path}' does not match what its video grain recorded ({bytes.Length} bytes, sha256 {sha}; recorded {blob.Size} bytes, sha256 {blob.Sha256})");
        return bytes;
    }
}

public static class IngestionGrains
{
    public static IngestionPipeline Pipeline(string name) =>
        IngestionPipelines.TryCreate(name, out var p) ? p
            : throw new InvalidOperationException($"this silo does not have the ingestion pipeline '{name}' (it has: {string.Join(", ", IngestionPipelines.Names)})");
}
