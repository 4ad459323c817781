using System.Diagnostics;
using System.Text;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Statistics;

namespace GidCluster.Dataprep.Pipeline;

/// <summary>
/// The per-video entry point (the cluster runs it once per video): decode → resample → flow →
/// spectral volumes, streaming each sample to an <see cref="ISampleSink"/> as soon as its clip
/// is done, and returning a status with the statistics sketch. Bad input never throws: it
/// becomes a per-video status with a reason.
/// </summary>
public static class VideoDataprep
{
    public static VideoReport Process(
        string path,
        DataprepOptions options,
        ISampleSink sink,
        IProgress<DataprepProgress>? progress = null,
        string? videoId = null,
        CancellationToken cancel = default)
    {
        options.Validate();
        var id = videoId ?? VideoIdOf(path);
        var clock = Stopwatch.StartNew();
        var sketch = new PercentileSketch(options.Bins);
        var notes = new List<string>();
        int samples = 0, flagged = 0, resampled = 0, decoded = 0;
        long flows = 0;
        double sumMean = 0, max = 0, sumInconsistent = 0;
        double srcFps = 0;
        int srcW = 0, srcH = 0;

        VideoReport Report(VideoStatus status, string reason) => new(
            path, id, status, reason, samples, flagged, decoded, resampled, srcFps, srcW, srcH, notes,
            samples > 0 ? sumMean / samples : 0, max, samples > 0 ? sumInconsistent / samples : 0,
            flows, clock.Elapsed, sketch);

        var file = new FileInfo(path);
        if (!file.Exists)
            return Report(VideoStatus.Error, "file not found");
        if (file.Length == 0)
            return Report(VideoStatus.Error, "empty file (0 bytes)");

        ResampledFrames reader;
        try
        {
            reader = new ResampledFrames(path, options);
        }
        catch (Exception e) when (e is InvalidDataException or GidCluster.Native.NativeException)
        {
            return Report(VideoStatus.Error, e.Message);
        }

        var n = options.ClipFrames;
        var ring = new FrameSlot[n + 1];
        for (var i = 0; i < ring.Length; i++)
            ring[i] = new FrameSlot(options.FlowWidth, options.FlowHeight, options.Width, options.Height);
        var clipFrames = new Mat[n + 1];
        var clipDiffs = new double[n + 1];
        var clips = 0;
        try
        {
            using var processor = new ClipProcessor(options);
            srcFps = reader.SourceFps;
            srcW = reader.SourceWidth;
            srcH = reader.SourceHeight;
            var previousGray = new byte[options.FlowWidth * options.FlowHeight];
            for (var j = 0; ; j++)
            {
                cancel.ThrowIfCancellationRequested();
                var slot = ring[j % ring.Length];
                if (!reader.Next(slot))
                    break;
                resampled = j + 1;
                decoded = reader.DecodedFrames;
                var gray = slot.Gray.Span<byte>();
                slot.MeanAbsDiffToPrevious = j == 0 ? 0 : MeanAbsDiff(gray, previousGray);
                gray.CopyTo(previousGray);

                // Frame j completes the clip that starts at j − N when that is a start frame.
                var s = j - n;
                if (s < 0 || s % options.StartStride != 0 || (options.MaxClips > 0 && clips >= options.MaxClips))
                {
                    if (j % 30 == 0)
                        progress?.Report(new DataprepProgress(id, resampled, clips, flows));
                    if (options.MaxClips > 0 && clips >= options.MaxClips)
                        break;
                    continue;
                }
                for (var t = 0; t <= n; t++)
                {
                    var f = ring[(s + t) % ring.Length];
                    clipFrames[t] = f.Gray;
                    clipDiffs[t] = t == 0 ? 0 : f.MeanAbsDiffToPrevious;
                }
                var result = processor.Process(clipFrames, clipDiffs);
                flows += result.Flows;
                var sample = MakeSample(id, s, path, options, ring, result);
                sketch.AddVolume(result.SpectralVolume);
                sink.Write(sample);
                clips++;
                samples++;
                if (result.Quality.Flags.Count > 0)
                    flagged++;
                sumMean += result.Quality.MeanDisplacement;
                max = Math.Max(max, result.Quality.MaxDisplacement);
                sumInconsistent += result.Quality.InconsistentFraction;
                progress?.Report(new DataprepProgress(id, resampled, clips, flows));
            }
            decoded = reader.DecodedFrames;
            AddDecodeNotes(reader, notes);
            if (decoded == 0)
                return Report(VideoStatus.Error, "no decodable video frames (audio only, or the video stream is corrupt)");
            if (samples == 0)
            {
                var seconds = resampled / options.Fps;
                return Report(VideoStatus.NoClips,
                    $"{resampled} frames at {options.Fps:0.##} fps ({seconds:0.##} s) after resampling; a clip needs {n + 1}");
            }
            return Report(VideoStatus.Ok, $"{samples} clip{(samples == 1 ? "" : "s")}");
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e) when (e is GidCluster.Native.NativeException or InvalidDataException or IOException)
        {
            AddDecodeNotes(reader, notes);
            return Report(VideoStatus.Error, $"failed after {resampled} frames and {samples} clips: {e.Message}");
        }
        finally
        {
            reader.Dispose();
            foreach (var f in ring)
                f.Dispose();
        }
    }

    /// <summary>A stable id from the file name: lower case, [a-z0-9_-] only.</summary>
    public static string VideoIdOf(string path)
    {
        var stem = Path.GetFileNameWithoutExtension(path).ToLowerInvariant();
        var b = new StringBuilder(stem.Length);
        foreach (var c in stem)
            b.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-' ? c : '_');
        return b.Length > 0 ? b.ToString() : "video";
    }

    private static void AddDecodeNotes(ResampledFrames reader, List<string> notes)
    {
        if (notes.Count > 0)
            return;
        var (lo, hi) = reader.IntervalRange;
        if (reader.DecodedFrames > 1 && hi > lo * 1.5 + 1e-4)
            notes.Add($"variable frame rate (frame intervals {lo * 1000:0.#}–{hi * 1000:0.#} ms): resampled by timestamps");
        if (reader.NonMonotonicTimestamps > 0)
            notes.Add($"{reader.NonMonotonicTimestamps} frames without increasing timestamps: used the nominal rate for them");
        if (reader.ReachedEnd && reader.ContainerFrameCount > 0 && reader.DecodedFrames < reader.ContainerFrameCount * 0.9)
            notes.Add($"decoded {reader.DecodedFrames} of the {reader.ContainerFrameCount} frames the container announces (truncated?)");
        if (!(reader.SourceFps is > 0 and < 1000))
            notes.Add($"container reports no usable frame rate ({reader.SourceFps}); timestamps used");
    }

    private static Sample MakeSample(string id, int start, string path, DataprepOptions o, FrameSlot[] ring, ClipResult result)
    {
        var frameBytes = o.Width * o.Height * 3;
        var image = (byte[])ring[start % ring.Length].Rgb.Clone();
        var targets = new byte[o.TargetOffsets.Count * frameBytes];
        for (var i = 0; i < o.TargetOffsets.Count; i++)
            ring[(start + o.TargetOffsets[i]) % ring.Length].Rgb.CopyTo(targets, i * frameBytes);
        return new Sample(
            id, start, (float)o.Fps, o.Width, o.Height, image, result.SpectralVolume, targets,
            o.TargetOffsets.ToArray(), new Uri(Path.GetFullPath(path)).AbsoluteUri, o.FlowDescription,
            result.Quality, o.SplitOf(id));
    }

    private static double MeanAbsDiff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        long sum = 0;
        for (var i = 0; i < a.Length; i++)
            sum += Math.Abs(a[i] - b[i]);
        return (double)sum / a.Length;
    }
}
