using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Work;

namespace GidCluster.Silo.Ingestion;

/// <summary>
/// The <c>animate</c> pipeline: <c>gid animate DIR… --on-cluster</c> as a job. Each picture is one grain of the job, on
/// a worker silo's work slot; it fetches the model the client stored under <c>models/KEY</c> (cached per silo, checked
/// against the key), runs <c>gid animate</c> on the picture in a child process with the job's settings, and uploads the
/// video, its X-t slice and its spectrum image under <c>animations/NAME/videos/ID/</c>. The merge writes
/// <c>animations.json</c>, the index the client downloads by.
/// </summary>
public static class AnimatePipeline
{
    public const string Name = "animate";
    public const string IndexFile = "animations.json";

    /// <summary>Where a silo keeps the models it fetched: <c>$GID_MODELS_DIR</c>, else a folder under the temp directory.</summary>
    public const string CacheVariable = "GID_MODELS_DIR";

    /// <summary>The settings a job may give, each a <c>gid animate</c> option of the same name; <c>model</c> is required.</summary>
    public static readonly IReadOnlyList<string> Settings = ["model", "seconds", "slowmo", "magnify", "seed", "loop", "steps", "guidance", "loop-weight", "recurrence", "scanline", "format"];

    private static readonly string[] Integers = ["seed", "steps", "recurrence", "scanline"];

    public static void Register() => IngestionPipelines.Register(Name, () =>
        new IngestionPipeline(Name, "animate: each picture → gid animate with the job's model and settings → video, X-t slice, spectrum image; merged into animations.json",
            new AnimateProcessor(), new AnimationIndexMerge())
        {
            OutputRoot = "animations",
            PartialResults = true,
            CheckParameters = Check,
        });

    /// <summary>Null when the settings are ones <c>gid animate</c> takes, in the forms it takes; else what is wrong (values are range-checked by the command itself, before submission).</summary>
    public static string? Check(IReadOnlyDictionary<string, string> parameters)
    {
        if (!parameters.TryGetValue("model", out var model))
            return "the animate pipeline needs parameters.model: a model stored in the blob store (models/KEY, as `gid animate --on-cluster` stores it)";
        if (!ModelBlobs.IsPrefix(model))
            return $"parameters.model '{model}' is not a stored model (models/ and 16 hex digits)";
        foreach (var (key, value) in parameters)
        {
            var fine = key switch
            {
                "model" => true,
                "loop" => value is "true" or "false",
                "format" => value is "mp4" or "gif",
                _ when Integers.Contains(key) => long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _),
                _ when Settings.Contains(key) => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x),
                _ => (bool?)null,
            };
            if (fine == null)
                return $"parameters.{key} is not a setting of the animate pipeline (it takes: {string.Join(", ", Settings)})";
            if (fine == false)
                return $"parameters.{key} '{value}' is not a value gid animate takes for --{key}";
        }
        return null;
    }

    /// <summary>The <c>gid animate</c> options that reproduce a job's settings (all but the model).</summary>
    public static IEnumerable<string> Arguments(IReadOnlyDictionary<string, string> parameters)
    {
        foreach (var key in Settings.Where(k => k is not ("model" or "format") && parameters.ContainsKey(k)))
        {
            if (key == "loop")
            {
                if (parameters[key] == "true") yield return "--loop";
                continue;
            }
            yield return "--" + key;
            yield return parameters[key];
        }
    }

    /// <summary>The names of one picture's outputs under its prefix, by the suffix <c>gid animate</c> gives each file.</summary>
    public static IReadOnlyList<string> OutputNames(string format) => [$"animation.{format}", "animation.xt.png", "animation.spectrum.png"];

    public static string CacheRoot() =>
        Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } dir ? dir : Path.Combine(Path.GetTempPath(), "gid-models");
}

/// <summary>One picture of an animate job, in a work slot: the model, then <c>gid animate</c> in a child process, then the uploads.</summary>
public sealed class AnimateProcessor : IVideoProcessor
{
    public async Task<VideoResult> ProcessAsync(VideoWork work, IBlobStore output, CancellationToken cancel)
    {
        var model = await ModelBlobs.FetchAsync(output, work.Parameters["model"], AnimatePipeline.CacheRoot(), cancel);
        var format = work.Parameters.GetValueOrDefault("format", "mp4");
        var dir = Directory.CreateTempSubdirectory("gid-animate-");
        try
        {
            var names = AnimatePipeline.OutputNames(format);
            List<string> args = ["animate", work.VideoUri, "--model", model, "--out", Path.Combine(dir.FullName, names[0]), .. AnimatePipeline.Arguments(work.Parameters)];
            // A work slot is one core's worth of work, as a dataprep video is: one torch thread per animation.
            var threads = new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1", ["MKL_NUM_THREADS"] = "1" };
            var (exit, errors) = await GidProcess.RunAsync("animate pictures", args, threads, cancel);
            if (exit != 0)
                throw new InvalidOperationException($"gid animate exited with code {exit}: {errors}");
            var blobs = new List<OutputBlob>();
            foreach (var name in names)
            {
                var path = $"{work.OutputPrefix}/{name}";
                await using var file = File.OpenRead(Path.Combine(dir.FullName, name));
                var info = await output.PutAsync(path, file, cancel);
                blobs.Add(new OutputBlob(path, info.Size, info.Sha256!, 0));
            }
            var record = new AnimationRecord(work.VideoId, work.VideoUri, work.Parameters["model"], blobs.Select(b => new AnimationFile(b.Path, b.Size, b.Sha256)).ToList());
            return new VideoResult(blobs, 1, JsonSerializer.SerializeToUtf8Bytes(record));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

/// <summary>The job's last step: <c>animations.json</c>, every picture with its files (path, size, SHA-256), in id order.</summary>
public sealed class AnimationIndexMerge : IIngestionMerge
{
    public async Task<MergeResult> MergeAsync(string datasetPrefix, IReadOnlyList<MergedVideo> videos, IBlobStore output, CancellationToken cancel)
    {
        var records = videos.Select(v => JsonSerializer.Deserialize<AnimationRecord>(v.Result.Sketch)
            ?? throw new InvalidDataException($"picture '{v.VideoId}': its record is empty")).ToList();
        var index = new AnimationIndex("gid-animations/1", records);
        var path = $"{datasetPrefix}/{AnimatePipeline.IndexFile}";
        var info = await output.PutAsync(path, new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(index, new JsonSerializerOptions { WriteIndented = true })), cancel);
        return new MergeResult(path, info.Sha256!, records.Count);
    }
}

/// <summary><c>animations.json</c>: what an animate job made.</summary>
public sealed record AnimationIndex(
    [property: JsonPropertyName("format")] string Format,
    [property: JsonPropertyName("animations")] IReadOnlyList<AnimationRecord> Animations);

/// <summary>One picture's animation: its id in the job, the picture, the stored model, and the files.</summary>
public sealed record AnimationRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("picture")] string Picture,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("files")] IReadOnlyList<AnimationFile> Files);

public sealed record AnimationFile(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256);
