using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using GidCluster.Contracts;
using Orleans;

namespace GidCluster.Grains.Ingestion;

/// <summary>What an ingestion job is asked to do, validated (kept in the job grain's state).</summary>
/// <param name="Videos">Absolute paths, already resolved under the allowed roots.</param>
/// <param name="DatasetPrefix">Blob prefix of the job's outputs: <c>datasets/NAME</c>, or the pipeline's own root (<c>animations/NAME</c>).</param>
[GenerateSerializer]
public sealed record IngestionSpec(IReadOnlyList<string> Videos, string DatasetPrefix, string Pipeline, int MaxAttempts)
{
    /// <summary>The pipeline's parameters (validated by the pipeline; empty for those that take none).</summary>
    [Id(4)]
    public Dictionary<string, string> Parameters { get; init; } = [];

    public string Dataset => DatasetPrefix[(DatasetPrefix.IndexOf('/') + 1)..];
}

/// <summary>A submission field failed validation: the message says what is wrong, <see cref="Field"/> which field. Crosses grain calls intact.</summary>
[GenerateSerializer]
public sealed class SubmissionException : ArgumentException
{
    public SubmissionException(string field, string message) : base(message) => Field = field;

    [Id(0)]
    public string Field { get; private set; }
}

/// <summary>Ids and validation of ingestion jobs, shared by the job grain and the HTTP API.</summary>
public static partial class IngestionJobs
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public const int MaxVideos = 100_000;

    public static string NewJobId(DateTimeOffset now) =>
        $"ing-{now:yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    /// <summary>The video grain's key: deterministic in the job and the video, so dispatching twice reaches the same grain.</summary>
    public static string VideoGrainKey(string jobId, string videoId) => $"{jobId}/{videoId}";

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex DatasetName();

    /// <summary>Checks every field of a submission; <see cref="SubmissionException"/> names the first bad one.</summary>
    public static IngestionSpec Validate(SubmitIngestionRequest request, VideoSources sources, string defaultPipeline, string jobId)
    {
        if (request.Videos is not { Count: > 0 and <= MaxVideos })
            throw new SubmissionException("videos", $"videos must hold between 1 and {MaxVideos} paths");
        var paths = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < request.Videos.Count; i++)
        {
            var field = $"videos[{i}]";
            if (request.Videos[i] is not { } uri)
                throw new SubmissionException(field, $"{field} must be a string");
            string path;
            try { path = sources.Resolve(uri); }
            catch (ArgumentException e) { throw new SubmissionException(field, e.Message); }
            if (!seen.Add(path))
                throw new SubmissionException(field, $"{field} repeats '{path}'");
            paths.Add(path);
        }
        var dataset = request.Dataset ?? jobId;
        if (!DatasetName().IsMatch(dataset))
            throw new SubmissionException("dataset", "dataset must be 1–64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
        var pipeline = request.Pipeline ?? defaultPipeline;
        if (!IngestionPipelines.TryCreate(pipeline, out var chosen))
            throw new SubmissionException("pipeline", $"pipeline must be one of: {string.Join(", ", IngestionPipelines.Names)}");
        var maxAttempts = request.MaxAttempts ?? 3;
        if (maxAttempts is < 1 or > 20)
            throw new SubmissionException("maxAttempts", "maxAttempts must be an integer from 1 to 20");
        var parameters = request.Parameters ?? [];
        var problem = chosen.CheckParameters is { } check ? check(parameters)
            : parameters.Count > 0 ? $"pipeline {pipeline} takes no parameters" : null;
        if (problem != null)
            throw new SubmissionException("parameters", problem);
        return new IngestionSpec(paths, $"{chosen.OutputRoot}/{dataset}", pipeline, maxAttempts) { Parameters = new(parameters, StringComparer.Ordinal) };
    }
}
