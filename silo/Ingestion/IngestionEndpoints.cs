using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Grains.Ingestion;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Ingestion;

/// <summary><c>POST /api/ingestion/jobs</c> submits; <c>GET /api/ingestion/jobs/{id}</c> follows; <c>GET /api/ingestion/jobs</c> lists. Each is a call on the job grains.</summary>
public static class IngestionEndpoints
{
    private static readonly string[] Fields = ["videos", "dataset", "pipeline", "maxAttempts", "parameters"];

    public static void MapIngestion(this WebApplication app)
    {
        app.MapPost("/api/ingestion/jobs", async (HttpRequest request, IGrainFactory grains, VideoSources sources, GidCluster.Grains.GrainSettings settings, CancellationToken cancel) =>
        {
            try
            {
                var body = ReadRequest(await ReadBodyAsync(request, cancel));
                var id = IngestionJobs.NewJobId(DateTimeOffset.UtcNow);
                // Checked here too, so a bad field is a 400 naming it before any grain is involved.
                IngestionJobs.Validate(body, sources, settings.DefaultPipeline, id);
                var job = await grains.GetGrain<IIngestionJobGrain>(id).Submit(body);
                return Results.Json(job, statusCode: StatusCodes.Status201Created);
            }
            catch (SubmissionException e)
            {
                return ApiResults.BadRequest(e.Field, e.Message);
            }
        });
        app.MapGet("/api/ingestion/jobs/{id}", async (IGrainFactory grains, string id) =>
            await grains.GetGrain<IIngestionJobGrain>(id).GetView(withVideos: true) is { } view ? Results.Ok(view) : ApiResults.NotFound($"no ingestion job '{id}'"));
        app.MapGet("/api/ingestion/jobs", async (IGrainFactory grains) =>
        {
            var views = new List<JobView>();
            foreach (var id in await grains.GetGrain<ICatalogGrain>(Catalogs.IngestionJobs).List(100))
            {
                if (await grains.GetGrain<IIngestionJobGrain>(id).GetView(withVideos: false) is { } view)
                    views.Add(view);
            }
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
            throw new SubmissionException("body", $"the body is not valid JSON ({e.Message.Split(" Path:")[0].Split(" LineNumber")[0]})");
        }
    }

    /// <summary>The JSON body's shape (types and unknown fields); the job grain checks the values.</summary>
    private static SubmitIngestionRequest ReadRequest(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw new SubmissionException("body", "the body must be a JSON object");
        foreach (var p in body.EnumerateObject())
        {
            if (!Fields.Contains(p.Name))
                throw new SubmissionException(p.Name, $"unknown field '{p.Name}' (known: {string.Join(", ", Fields)})");
        }
        if (!body.TryGetProperty("videos", out var videos) || videos.ValueKind != JsonValueKind.Array)
            throw new SubmissionException("videos", "videos must be an array of video paths");
        var paths = new List<string>();
        var i = 0;
        foreach (var v in videos.EnumerateArray())
        {
            var field = $"videos[{i++}]";
            paths.Add(v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new SubmissionException(field, $"{field} must be a string"));
        }
        string? Text(string name) =>
            !body.TryGetProperty(name, out var t) || t.ValueKind == JsonValueKind.Null ? null
            : t.ValueKind == JsonValueKind.String ? t.GetString() : throw new SubmissionException(name, $"{name} must be a string");
        int? maxAttempts = null;
        if (body.TryGetProperty("maxAttempts", out var m) && m.ValueKind != JsonValueKind.Null)
            maxAttempts = m.ValueKind == JsonValueKind.Number && m.TryGetInt32(out var n) ? n : throw new SubmissionException("maxAttempts", "maxAttempts must be an integer from 1 to 20");
        Dictionary<string, string>? parameters = null;
        if (body.TryGetProperty("parameters", out var ps) && ps.ValueKind != JsonValueKind.Null)
        {
            if (ps.ValueKind != JsonValueKind.Object)
                throw new SubmissionException("parameters", "parameters must be an object of strings");
            parameters = new(StringComparer.Ordinal);
            foreach (var p in ps.EnumerateObject())
                parameters[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new SubmissionException("parameters", $"parameters.{p.Name} must be a string");
        }
        return new SubmitIngestionRequest(paths, Text("dataset"), Text("pipeline"), maxAttempts) { Parameters = parameters };
    }
}
