using System.Diagnostics;
using System.Globalization;
using GidCluster.Dataprep.OpenCv;
using static TorchSharp.torch;

namespace GidCluster.Inference.Rendering;

/// <summary>What an animation is written as: a video (MP4 as H.264, or GIF, by ffmpeg), an X-t slice and the spectral volume's amplitudes (PNG).</summary>
public static class MediaFiles
{
    /// <summary>RGB8 frames (H×W×3 each, back to back) → <paramref name="path"/>: <c>.mp4</c> (libx264, yuv420p) or <c>.gif</c> (palette per file).</summary>
    public static void WriteVideo(string path, int width, int height, double fps, byte[] frames)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        string[] encode = ext switch
        {
            // yuv420p needs even sizes; players expect it. crf 18: visually lossless.
            ".mp4" => ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
            ".gif" => ["-filter_complex", "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a", "-loop", "0"],
            _ => throw new ArgumentException($"{path}: the video must end in .mp4 or .gif"),
        };
        var frameBytes = width * height * 3;
        if (frames.Length == 0 || frames.Length % frameBytes != 0)
            throw new ArgumentException($"{frames.Length} bytes are not whole {width}×{height} RGB frames", nameof(frames));
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{width}x{height}",
                     "-r", fps.ToString(CultureInfo.InvariantCulture), "-i", "-", "-an" }.Concat(encode).Append(path))
            start.ArgumentList.Add(a);
        using var ffmpeg = Process.Start(start) ?? throw new IOException("could not start ffmpeg (is it installed? ./gid installs it)");
        var stderr = ffmpeg.StandardError.ReadToEndAsync();
        ffmpeg.StandardOutput.ReadToEndAsync();
        try
        {
            ffmpeg.StandardInput.BaseStream.Write(frames);
            ffmpeg.StandardInput.Close();
        }
        catch (IOException)
        {
            // ffmpeg quit early; its own message below says why.
        }
        ffmpeg.WaitForExit();
        if (ffmpeg.ExitCode != 0)
            throw new IOException($"ffmpeg could not write {path}: {stderr.Result.Trim()}");
    }

    /// <summary>
    /// The X-t slice (the paper's Fig. 5): row <paramref name="row"/> of every frame stacked top to bottom, a
    /// W×T image where motion along x shows as wavy vertical streaks.
    /// </summary>
    public static void WriteXtSlice(string path, int width, int height, byte[] frames, int row)
    {
        if (row < 0 || row >= height) throw new ArgumentOutOfRangeException(nameof(row), $"scanline {row} is outside 0…{height - 1}");
        var frameBytes = width * height * 3;
        var count = frames.Length / frameBytes;
        var slice = new byte[count * width * 3];
        for (var t = 0; t < count; t++)
            Array.Copy(frames, t * frameBytes + row * width * 3, slice, t * width * 3, width * 3);
        Picture.WriteImage(path, width, count, slice);
    }

    /// <summary>
    /// The predicted spectral volume side by side: one tile per bin k (4 per row), grey level log(1 + |S_k(p)|)
    /// over the whole volume's maximum, |S_k| = √(Re x² + Im x² + Re y² + Im y²). <paramref name="volume"/> <c>[K, 4, H, W]</c>.
    /// </summary>
    public static void WriteSpectrumImage(string path, Tensor volume, IReadOnlyList<double> frequenciesHz)
    {
        using var scope = NewDisposeScope();
        var (k, h, w) = ((int)volume.shape[0], (int)volume.shape[2], (int)volume.shape[3]);
        var amplitude = volume.to(ScalarType.Float32).pow(2).sum(1).sqrt().log1p();  // [K, H, W]
        var top = Math.Max(amplitude.max().item<float>(), 1e-6f);
        var grey = (amplitude / top * 255).round().clamp(0, 255).to(ScalarType.Byte).data<byte>().ToArray();
        const int perRow = 4, gap = 2, label = 14;
        var rows = (k + perRow - 1) / perRow;
        var (tw, th) = (w + gap, h + label + gap);
        using var canvas = new Mat(rows * th, perRow * tw, MatType.CV_8UC3);
        canvas.SetTo(40, 40, 40);
        var pixels = canvas.Span<byte>();
        var stride = perRow * tw * 3;
        for (var b = 0; b < k; b++)
        {
            var (x0, y0) = (b % perRow * tw, b / perRow * th + label);
            for (var y = 0; y < h; y++)
                for (var x = 0; x < w; x++)
                {
                    var v = grey[(b * h + y) * w + x];
                    var o = (y0 + y) * stride + (x0 + x) * 3;
                    pixels[o] = pixels[o + 1] = pixels[o + 2] = v;
                }
        }
        for (var b = 0; b < k; b++)
            Cv2.PutText(canvas, string.Create(CultureInfo.InvariantCulture, $"k={b} {frequenciesHz[b]:0.00}Hz"), b % perRow * tw + 1, b / perRow * th + label - 3, 0.3, (230, 230, 230));
        Cv2.ImWrite(path, canvas);
    }
}
