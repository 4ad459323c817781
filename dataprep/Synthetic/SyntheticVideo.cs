using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using GidCluster.Dataprep.OpenCv;

namespace GidCluster.Dataprep.Synthetic;

/// <summary>True spectral coefficients of one region for one start frame (sidecar JSON).</summary>
public sealed record RegionSpectrum(
    [property: JsonPropertyName("region")] int Region,
    [property: JsonPropertyName("start_frame")] int StartFrame,
    [property: JsonPropertyName("x")] double[][] X,
    [property: JsonPropertyName("y")] double[][] Y);

/// <summary>The sidecar written next to a synthetic video: the scene (exact displacement parameters) and its true spectra.</summary>
public sealed record SyntheticSidecar(
    [property: JsonPropertyName("schema")] string Schema,
    [property: JsonPropertyName("displacement_model")] string DisplacementModel,
    [property: JsonPropertyName("spectrum_convention")] string SpectrumConvention,
    [property: JsonPropertyName("encoder")] string Encoder,
    [property: JsonPropertyName("scene")] SyntheticScene Scene,
    [property: JsonPropertyName("spectra")] IReadOnlyList<RegionSpectrum> Spectra)
{
    /// <summary>For a corpus scene: the rule and each object's appearance and true motion.</summary>
    [JsonPropertyName("corpus")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public CorpusTruth? Corpus { get; init; }

    /// <summary>Reads a sidecar; throws <see cref="InvalidDataException"/> naming the file when it is not one.</summary>
    public static SyntheticSidecar Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<SyntheticSidecar>(File.ReadAllText(path)) is { Scene: not null, Spectra: not null } s
                ? s : throw new InvalidDataException($"{path} is not a gid synth sidecar (no scene)");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a gid synth sidecar: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            // A layer without its "shape": a gid-synth/1 sidecar, from before bending objects.
            throw new InvalidDataException($"{path} is not a gid-synth/2 sidecar (made by an older gid synth? make the video again): {e.Message}", e);
        }
    }
}

/// <summary>Renders a <see cref="SyntheticScene"/> and encodes it to MP4 with ffmpeg (raw RGB frames piped to its stdin).</summary>
public static class SyntheticVideo
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>
    /// Writes <paramref name="mp4Path"/> and <c>{mp4Path without extension}.json</c>. <paramref name="crf"/> is
    /// libx264's quality (0 = lossless); the sidecar lists true spectra for the given start frames.
    /// </summary>
    public static SyntheticSidecar Write(SyntheticScene scene, string mp4Path, int crf = 10, IReadOnlyList<int>? spectrumStarts = null, TimeSpan? timeout = null,
        CorpusTruth? corpus = null)
    {
        var encoder = $"libx264 -preset medium -crf {crf} -pix_fmt yuv444p";
        var start = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var a in new[]
        {
            "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", $"{scene.Width}x{scene.Height}", "-r", scene.Fps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-i", "-", "-an", "-c:v", "libx264", "-preset", "medium", "-crf", crf.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-pix_fmt", "yuv444p", mp4Path,
        })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ffmpeg");
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        var frame = new byte[scene.Width * scene.Height * 3];
        try
        {
            using var stdin = process.StandardInput.BaseStream;
            for (var i = 0; i < scene.Frames; i++)
            {
                scene.Render(i, frame);
                stdin.Write(frame);
            }
        }
        catch (IOException e)
        {
            process.WaitForExit(10_000);
            throw new InvalidOperationException($"ffmpeg stopped while encoding {mp4Path}: {stderr.Result}", e);
        }
        if (!process.WaitForExit((int)(timeout ?? TimeSpan.FromMinutes(5)).TotalMilliseconds))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"ffmpeg did not finish encoding {mp4Path}");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"ffmpeg failed ({process.ExitCode}) encoding {mp4Path}: {stderr.Result}");

        var sidecar = Sidecar(scene, encoder, spectrumStarts ?? [0], corpus);
        File.WriteAllText(Path.ChangeExtension(mp4Path, ".json"), JsonSerializer.Serialize(sidecar, Json));
        return sidecar;
    }

    /// <summary>
    /// A held-out picture: frame 0 of the scene as <paramref name="pngPath"/>, its object labels as
    /// <c>NAME_labels.png</c> (grey level r + 1 where layer r shows, 0 on the background) and the
    /// sidecar <c>NAME.json</c> with the true spectra for start frame 0, without a video.
    /// </summary>
    public static SyntheticSidecar WritePicture(SyntheticScene scene, string pngPath, CorpusTruth? corpus = null)
    {
        if (scene.Regions.Count > 254)
            throw new ArgumentException($"{scene.Regions.Count} layers do not fit an 8-bit label image");
        var rgb = new byte[scene.Width * scene.Height * 3];
        scene.Render(0, rgb);
        using (var image = new Mat())
        using (var bgr = new Mat())
        {
            image.SetData<byte>(scene.Height, scene.Width, MatType.CV_8UC3, rgb);
            Cv2.CvtColor(image, bgr, ColorConversionCodes.RGB2BGR);
            Cv2.ImWrite(pngPath, bgr);
        }
        var labels = new byte[scene.Width * scene.Height];
        for (var y = 0; y < scene.Height; y++)
        {
            for (var x = 0; x < scene.Width; x++)
                labels[y * scene.Width + x] = (byte)(scene.RegionAt(0, x, y) + 1);
        }
        using (var mask = new Mat())
        {
            mask.SetData<byte>(scene.Height, scene.Width, MatType.CV_8UC1, labels);
            Cv2.ImWrite(LabelsPath(pngPath), mask);
        }
        var sidecar = Sidecar(scene, "none (a still picture: frame 0 as PNG)", [0], corpus);
        File.WriteAllText(Path.ChangeExtension(pngPath, ".json"), JsonSerializer.Serialize(sidecar, Json));
        return sidecar;
    }

    /// <summary>Where <see cref="WritePicture"/> puts the label image of <paramref name="pngPath"/>.</summary>
    public static string LabelsPath(string pngPath) =>
        Path.Combine(Path.GetDirectoryName(pngPath) ?? "", Path.GetFileNameWithoutExtension(pngPath) + "_labels.png");

    private static SyntheticSidecar Sidecar(SyntheticScene scene, string encoder, IReadOnlyList<int> starts, CorpusTruth? corpus)
    {
        var spectra = new List<RegionSpectrum>();
        foreach (var s in starts)
        {
            for (var r = 0; r < scene.Regions.Count; r++)
            {
                var c = scene.TrueCoefficients(r, s);
                var k = c.GetLength(1);
                spectra.Add(new RegionSpectrum(r, s,
                    Enumerable.Range(0, k).Select(i => new[] { c[0, i].Re, c[0, i].Im }).ToArray(),
                    Enumerable.Range(0, k).Select(i => new[] { c[1, i].Re, c[1, i].Im }).ToArray()));
            }
        }
        return new SyntheticSidecar(
            "gid-synth/2",
            "frame at time τ = i/fps shows layer r's rest point q at q + w_r(q)·D_r(τ), D_r(τ) = (Σ_x A cos(2π f τ + φ), Σ_y A cos(2π f τ + φ)); " +
            "w = 1 on an ellipse (rigid), w = s²(3 − s)/2 at s = distance along the axis / length on a bending object; background static",
            "S_k = Σ_{n=0}^{N-1} F_{n+1} e^{-2πikn/N}, F_t = D(s+t) − D(s), N = 149 (numpy fft, no 1/N); [re, im] per bin; a pixel showing rest point q has w(q)·S_k",
            encoder, scene, spectra)
        { Corpus = corpus };
    }
}
