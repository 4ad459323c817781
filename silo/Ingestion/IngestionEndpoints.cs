using System.Text.Json;
using System.Text.RegularExpressions;
using GidCluster.Contracts;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Store;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Ingestion;

/// <summary><c>POST /api/ingestion/jobs</c> submits; <c>GET /api/ingestion/jobs/{id}</c> follows; <c>GET /api/ingestion/jobs</c> lists.</summary>
public static partial class IngestionEndpoints
{
    public static void MapIngestion(this WebApplication app)
    {
        app.MapPost("/api/ingestion/jobs", async (HttpRequest request, IClusterStore store, VideoSources sources, SiloOptions options, CancellationToken cancel) =>
        {
            IngestionSpec spec;
            try
            {
                var body = await ReadBodyAsync(request, cancel);
                var jobIdForDefault = IngestionJobs.NewJobId(store.Now());
                spec = Validate(body, sources, options, jobIdForDefault, out var jobId);
                var job = await IngestionJobs.SubmitAsync(store, jobId, spec, cancel);
                return Results.Json(await ViewAsync(store, job, cancel), statusCode: StatusCodes.Status201Created);
            }
            catch (FieldException e)
            {
                return ApiResults.BadRequest(e.Field, e.Message);
            }
        });
        app.MapGet("/api/ingestion/jobs/{id}", async (IClusterStore store, string id, CancellationToken cancel) =>
        {
            var job = await store.GetJobAsync(id, cancel);
            return job == null || job.Kind != JobKinds.Ingestion
                ? ApiResults.NotFound($"no ingestion job '{id}'")
                : Results.Ok(await ViewAsync(store, job, cancel));
        });
        app.MapGet("/api/ingestion/jobs", async (IClusterStore store, CancellationToken cancel) =>
        {
            var views = new List<JobView>();
            foreach (var job in await store.ListJobsAsync(JobKinds.Ingestion, 100, cancel))
                views.Add(await ViewAsync(store, job, cancel) with { Videos = [] });
            return Results.Ok(views);
        });
    }

    private static async Task<JsonElement> ReadBodyAsync(HttpRequest request, CancellationToken cancel)
    {
        try
        {
            using var doc = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancel);
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new FieldException("body", $"the body is not valid JSON ({e.Message.Split(" Path:")[0].Split(" LineNumber")[0]})");
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex DatasetName();

    private static readonly string[] Fields = ["videos", "dataset", "pipeline", "maxAttempts"];

    /// <summary>Checks every field of a submission; <see cref="FieldException"/> names the first bad one.</summary>
    private static IngestionSpec Validate(JsonElement body, VideoSources sources, SiloOptions options, string defaultJobId, out string jobId)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw new FieldException("body", "the body must be a JSON object");
        foreach (var p in body.EnumerateObject())
        {
            if (!Fields.Contains(p.Name))
                throw new FieldException(p.Name, $"unknown field '{p.Name}' (known: {string.Join(", ", Fields)})");
        }
        if (!body.TryGetProperty("videos", out var videos) || videos.ValueKind != JsonValueKind.Array)
            throw new FieldException("videos", "videos must be an array of video paths");
        if (videos.GetArrayLength() is 0 or > 100_000)
            throw new FieldException("videos", "videos must hold between 1 and 100000 paths");
        var paths = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var i = 0;
        foreach (var v in videos.EnumerateArray())
        {
            var field = $"videos[{i++}]";
            if (v.ValueKind != JsonValueKind.String)
                throw new FieldException(field, $"{field} must be a string");
            string path;
            try { path = sources.Resolve(v.GetString()!); }
            catch (ArgumentException e) { throw new FieldException(field, e.Message); }
            if (!seen.Add(path))
                throw new FieldException(field, $"{field} repeats '{path}'");
            paths.Add(path);
        }
        jobId = defaultJobId;
        var dataset = jobId;
        if (body.TryGetProperty("dataset", out var d) && d.ValueKind != JsonValueKind.Null)
        {
            if (d.ValueKind != JsonValueKind.String || !DatasetName().IsMatch(d.GetString()!))
                throw new FieldException("dataset", "dataset must be 1–64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
            dataset = d.GetString()!;
        }
        var pipeline = options.DefaultPipeline;
        if (body.TryGetProperty("pipeline", out var p2) && p2.ValueKind != JsonValueKind.Null)
        {
            if (p2.ValueKind != JsonValueKind.String || !IngestionPipelines.TryCreate(p2.GetString()!, out _))
                throw new FieldException("pipeline", $"pipeline must be one of: {string.Join(", ", IngestionPipelines.Names)}");
            pipeline = p2.GetString()!;
        }
        var maxAttempts = 3;
        if (body.TryGetProperty("maxAttempts", out var m) && m.ValueKind != JsonValueKind.Null)
        {
            if (m.ValueKind != JsonValueKind.Number || !m.TryGetInt32(out maxAttempts) || maxAttempts is < 1 or > 20)
                throw new FieldException("maxAttempts", "maxAttempts must be an integer from 1 to 20");
        }
        return new IngestionSpec(paths, $"datasets/{dataset}", pipeline, maxAttempts);
    }

    public static async Task<JobView> ViewAsync(IClusterStore store, JobRecord job, CancellationToken cancel)
    {
        var spec = JsonSerializer.Deserialize<IngestionSpec>(job.Spec, IngestionJobs.Json);
        var grains = await store.ListGrainsAsync(job.Id, cancel);
        var videos = grains.Where(g => g.Kind == GrainKinds.Video).Select(g =>
        {
            var input = JsonSerializer.Deserialize<VideoGrainInput>(g.Input, IngestionJobs.Json)!;
            var rows = g.Result == null ? (long?)null : JsonSerializer.Deserialize<StoredVideoResult>(g.Result, IngestionJobs.Json)!.Rows;
            return new VideoView(input.VideoId, input.VideoUri, g.State, g.Attempts, g.Error, rows);
        }).ToList();
        var merge = job.Result == null ? null : JsonSerializer.Deserialize<MergeResult>(job.Result, IngestionJobs.Json);
        return new JobView(job.Id, job.Kind, job.State, ApiResults.Time(job.CreatedAt), ApiResults.Time(job.UpdatedAt),
            spec?.Pipeline, spec?.DatasetPrefix, videos.Count,
            videos.Count(v => v.State == GrainStates.Done), videos.Count(v => v.State == GrainStates.Leased),
            videos.Count(v => v.State == GrainStates.Pending), videos.Count(v => v.State == GrainStates.Quarantined),
            merge?.ManifestPath, merge?.ManifestSha256, merge?.Rows, job.Error, videos);
    }
}
