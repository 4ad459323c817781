using System.Diagnostics;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;

namespace GidCluster.Grains.Ingestion;

/// <summary>
/// A simple, real, deterministic per-video step used to exercise the cluster before dataprep is
/// wired in: decodes the video with ffmpeg (one thread, 8-bit luminance at 256×160) and writes
/// <c>frame-stats.json</c> with the frame count and each frame's mean luminance. Its sketch is
/// the 256-bin histogram of all luminance values (exactly mergeable by addition).
/// It is not dataprep: no flow, no spectral volumes, no shards.
/// </summary>
public sealed class FrameStatsProcessor : IVideoProcessor
{
    public const string PipelineName = "frame-stats";
    public const int Width = 256, Height = 160;

    public async Task<VideoResult> ProcessAsync(VideoWork work, IBlobStore output, CancellationToken cancel)
    {
        if (!File.Exists(work.VideoUri))
            throw new FileNotFoundException($"video '{work.VideoUri}' does not exist", work.VideoUri);
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-nostdin", "-v", "error", "-threads", "1", "-i", work.VideoUri, "-vf", $"scale={Width}:{Height}:flags=bilinear,format=gray", "-f", "rawvideo", "-threads", "1", "-" })
            start.ArgumentList.Add(a);
        using var ffmpeg = Process.Start(start) ?? throw new InvalidOperationException("could not start ffmpeg");
        var stderr = ffmpeg.StandardError.ReadToEndAsync(cancel);
        var histogram = new long[256];
        var means = new List<double>();
        var frame = new byte[Width * Height];
        try
        {
            var stdout = ffmpeg.StandardOutput.BaseStream;
            while (true)
            {
                var got = await stdout.ReadAtLeastAsync(frame, frame.Length, throwOnEndOfStream: false, cancel);
                if (got < frame.Length)
                    break;
                long sum = 0;
                foreach (var v in frame)
                {
                    histogram[v]++;
                    sum += v;
                }
                means.Add(Math.Round((double)sum / frame.Length, 4));
            }
            await ffmpeg.WaitForExitAsync(cancel);
        }
        finally
        {
            if (!ffmpeg.HasExited)
                ffmpeg.Kill(entireProcessTree: true);
        }
        if (ffmpeg.ExitCode != 0 || means.Count == 0)
            throw new InvalidDataException($"ffmpeg could not decode '{work.VideoUri}' (exit {ffmpeg.ExitCode}): {(await stderr).Trim()}");

        var json = JsonSerializer.SerializeToUtf8Bytes(new
        {
            video_id = work.VideoId,
            width = Width,
            height = Height,
            frames = means.Count,
            mean_luminance = means,
        });
        var path = $"{work.OutputPrefix}/frame-stats.json";
        var info = await output.PutAsync(path, new MemoryStream(json), cancel);
        return new VideoResult([new OutputBlob(path, info.Size, info.Sha256!, means.Count)], means.Count, HistogramSketch.Encode(histogram));
    }
}

/// <summary>A 256-bin count histogram as 256 little-endian int64 values.</summary>
public static class HistogramSketch
{
    public static byte[] Encode(long[] bins)
    {
        var bytes = new byte[bins.Length * 8];
        for (var i = 0; i < bins.Length; i++)
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), bins[i]);
        return bytes;
    }

    public static long[] Decode(byte[] bytes)
    {
        if (bytes.Length != 256 * 8)
            throw new InvalidDataException($"histogram sketch has {bytes.Length} bytes, expected {256 * 8}");
        var bins = new long[256];
        for (var i = 0; i < bins.Length; i++)
            bins[i] = BitConverter.ToInt64(bytes, i * 8);
        return bins;
    }
}

/// <summary>
/// Merge step of the <c>frame-stats</c> pipeline: adds the videos' luminance histograms, takes the
/// exact 95th percentile from the sum (values are integers 0–255, so the histogram is lossless),
/// and writes <c>manifest.json</c> listing every video's outputs with sizes and SHA-256.
/// </summary>
public sealed class LuminanceHistogramMerge : IIngestionMerge
{
    public async Task<MergeResult> MergeAsync(string datasetPrefix, IReadOnlyList<MergedVideo> videos, IBlobStore output, CancellationToken cancel)
    {
        var total = new long[256];
        foreach (var v in videos)
        {
            var bins = HistogramSketch.Decode(v.Result.Sketch);
            for (var i = 0; i < 256; i++)
                total[i] += bins[i];
        }
        var count = total.Sum();
        var p95 = 0;
        for (long seen = 0; p95 < 256; p95++)
        {
            seen += total[p95];
            if (seen * 100 >= count * 95)
                break;
        }
        var manifest = new
        {
            schema = "gid.frame-stats.manifest/1",
            pipeline = FrameStatsProcessor.PipelineName,
            rows = videos.Sum(v => v.Result.Rows),
            luminance_p95 = p95,
            luminance_histogram = total,
            videos = videos.OrderBy(v => v.VideoId, StringComparer.Ordinal).Select(v => new
            {
                video_id = v.VideoId,
                source_uri = v.VideoUri,
                rows = v.Result.Rows,
                blobs = v.Result.Blobs.Select(b => new { path = Relative(datasetPrefix, b.Path), size = b.Size, sha256 = b.Sha256, rows = b.Rows }),
            }),
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(manifest, new JsonSerializerOptions { WriteIndented = true });
        var path = $"{datasetPrefix}/manifest.json";
        var info = await output.PutAsync(path, new MemoryStream(bytes), cancel);
        return new MergeResult(path, info.Sha256!, manifest.rows);
    }

    // Paths in the manifest are relative to it, so a dataset can be moved or compared byte for byte.
    private static string Relative(string prefix, string path) =>
        path.StartsWith(prefix + "/", StringComparison.Ordinal) ? path[(prefix.Length + 1)..] : path;
}
