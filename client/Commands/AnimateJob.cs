using System.Globalization;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Inference;
using GidCluster.Silo.Ingestion;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid animate … --on-cluster</c>: the pictures as an animate job (one grain per picture, spread over the worker
/// silos' work slots; see <see cref="AnimatePipeline"/>). The model folder is stored in the blob store once by its
/// content; the job is followed with a progress bar; the results are downloaded, SHA-256 checked, into the output
/// folder under the same names a local batch writes.
/// </summary>
public static class AnimateJob
{
    public static async Task<int> RunAsync(string? cluster, string modelDir, IReadOnlyList<string> pictures, string outDir, string format,
        AnimateOptions options, bool stepsGiven, int? scanline, CancellationToken cancel)
    {
        await using var client = await ClusterClient.ConnectAsync(cluster, cancel);
        var blobs = client.OpenBlobs(null);
        var model = await ModelBlobs.UploadAsync(blobs, modelDir, cancel);
        Console.WriteLine($"model stored at {model}/ in {blobs.Describe()}");
        var parameters = Parameters(model, format, options, stepsGiven, scanline);
        var grain = client.Grains.GetGrain<IIngestionJobGrain>(IngestionJobs.NewJobId(DateTimeOffset.UtcNow));
        // The silos read the pictures where they are: absolute paths under their allowed roots.
        var job = await grain.Submit(new SubmitIngestionRequest(pictures.Select(Path.GetFullPath).ToList(), Pipeline: AnimatePipeline.Name) { Parameters = parameters });
        Console.WriteLine($"job {job.Id}: {job.Total} pictures, outputs under {job.Dataset}/ (`gid ingest status {job.Id}` shows it)");
        job = await IngestCommand.FollowAsync(grain, job, cancel);
        foreach (var failed in job.QuarantinedVideos)
            Console.Error.WriteLine($"gid animate: {failed.Uri}: {failed.Error}");
        if (job.State != JobStates.Succeeded || job.Manifest is null)
        {
            Console.Error.WriteLine($"gid animate: job {job.Id} {job.State}: {job.Error}");
            return UserErrors.ExitCode;
        }
        Directory.CreateDirectory(outDir);
        AnimationIndex index;
        await using (var stream = await blobs.OpenReadAsync(job.Manifest, cancel))
            index = await JsonSerializer.DeserializeAsync<AnimationIndex>(stream, cancellationToken: cancel)
                ?? throw new InvalidDataException($"{job.Manifest}: empty index");
        foreach (var animation in index.Animations)
        {
            var stem = Path.GetFileNameWithoutExtension(animation.Picture);
            foreach (var file in animation.Files)
            {
                // animation.mp4 → STEM.mp4, animation.xt.png → STEM.xt.png: the names a local batch gives.
                var name = Path.GetFileName(file.Path);
                var target = Path.Combine(outDir, stem + name[name.IndexOf('.')..]);
                await BlobFiles.DownloadVerifiedAsync(blobs, file.Path, file.Sha256, target, cancel);
            }
            Console.WriteLine($"{animation.Picture} → {Path.Combine(outDir, stem + "." + format)} (and .xt.png, .spectrum.png)");
        }
        Console.WriteLine($"{index.Animations.Count} of {job.Total} pictures animated on the cluster into {outDir}");
        return job.Quarantined > 0 ? UserErrors.ExitCode : 0;
    }

    /// <summary>The job's settings: the command's own values, so each grain's <c>gid animate</c> does what this one would.</summary>
    private static Dictionary<string, string> Parameters(string model, string format, AnimateOptions o, bool stepsGiven, int? scanline)
    {
        static string F(double x) => x.ToString("R", CultureInfo.InvariantCulture);
        var p = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["model"] = model,
            ["format"] = format,
            ["seconds"] = F(o.Seconds),
            ["slowmo"] = F(o.Slowmo),
            ["magnify"] = F(o.Magnify),
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["loop"] = o.Loop ? "true" : "false",
            ["guidance"] = F(o.Guidance),
            ["loop-weight"] = F(o.LoopWeight),
            ["recurrence"] = o.LoopRecurrence.ToString(CultureInfo.InvariantCulture),
        };
        if (stepsGiven) p["steps"] = o.Steps.ToString(CultureInfo.InvariantCulture);
        if (scanline is { } row) p["scanline"] = row.ToString(CultureInfo.InvariantCulture);
        return p;
    }
}
