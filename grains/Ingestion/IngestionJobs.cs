using System.Security.Cryptography;
using System.Text.Json;
using GidCluster.Grains.Store;

namespace GidCluster.Grains.Ingestion;

/// <summary>What an ingestion job is asked to do (stored as the job's spec).</summary>
/// <param name="Videos">Absolute paths, already validated.</param>
/// <param name="DatasetPrefix">Blob prefix of the dataset, e.g. <c>datasets/NAME</c>.</param>
public sealed record IngestionSpec(IReadOnlyList<string> Videos, string DatasetPrefix, string Pipeline, int MaxAttempts);

/// <summary>Input of one video grain.</summary>
public sealed record VideoGrainInput(string VideoUri, string VideoId, string OutputPrefix, string Pipeline);

/// <summary>Input of the statistics-merge grain.</summary>
public sealed record MergeGrainInput(string DatasetPrefix, string Pipeline);

/// <summary>Creating ingestion jobs: one job, one grain per video; the merge grain comes when every video is done.</summary>
public static class IngestionJobs
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string NewJobId(long nowMs) =>
        $"ing-{DateTimeOffset.FromUnixTimeMilliseconds(nowMs):yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    public static string VideoGrainId(string jobId, string videoId) => $"{jobId}/video/{videoId}";

    public static string MergeGrainId(string jobId) => $"{jobId}/merge";

    /// <summary>Creates the job and its video grains in one transaction; returns the job.</summary>
    public static async Task<JobRecord> SubmitAsync(IClusterStore store, string jobId, IngestionSpec spec, CancellationToken cancel = default)
    {
        var grains = spec.Videos.Select(path =>
        {
            var id = VideoSources.VideoId(path);
            var input = new VideoGrainInput(path, id, $"{spec.DatasetPrefix}/videos/{id}", spec.Pipeline);
            return new NewGrain(VideoGrainId(jobId, id), jobId, GrainKinds.Video, JsonSerializer.Serialize(input, Json), spec.MaxAttempts);
        }).ToList();
        var job = new JobRecord(jobId, JobKinds.Ingestion, JobStates.Running, JsonSerializer.Serialize(spec, Json), null, null, 0, 0);
        if (!await store.CreateJobAsync(job, grains, cancel))
            throw new InvalidOperationException($"job '{jobId}' already exists");
        await store.AddEventAsync(jobId, null, null, "job.submitted", $"{grains.Count} videos, pipeline {spec.Pipeline}, dataset {spec.DatasetPrefix}", cancel);
        return (await store.GetJobAsync(jobId, cancel))!;
    }
}
