using GidCluster.Grains.Blobs;
using GidCluster.Silo.Hosting;

namespace GidCluster.Silo.Blobs;

/// <summary><c>GET /api/blobs?path=KEY</c>: downloads one object (checkpoints, manifests) with its SHA-256 in a header.</summary>
public static class BlobEndpoints
{
    public const string Sha256Header = "X-Gid-Sha256";

    public static void MapBlobs(this WebApplication app)
    {
        app.MapGet("/api/blobs", async (HttpContext context, IBlobStore blobs, string? path, CancellationToken cancel) =>
        {
            BlobInfo? info;
            try
            {
                // The store validates keys too (e.g. its private folders); both refusals are a 400.
                info = await blobs.GetInfoAsync(BlobPath.Validate(path ?? "", "path"), cancel);
            }
            catch (ArgumentException e)
            {
                return ApiResults.BadRequest("path", e.Message.Split(" (Parameter")[0]);
            }
            if (info == null)
                return ApiResults.NotFound($"blob '{path}' does not exist");
            if (info.Sha256 != null)
                context.Response.Headers[Sha256Header] = info.Sha256;
            return Results.Stream(await blobs.OpenReadAsync(path!, cancel), "application/octet-stream");
        });
    }
}
