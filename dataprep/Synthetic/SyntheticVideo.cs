using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

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
    [property: JsonPropertyName("spectra")] IReadOnlyList<RegionSpectrum> Spectra);

/// <summary>Renders a <see cref="SyntheticScene"/> and encodes it to MP4 with ffmpeg (raw RGB frames piped to its stdin).</summary>
public static class SyntheticVideo
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>
    /// Writes <paramref name="mp4Path"/> and <c>{mp4Path without extension}.json</c>. <paramref name="crf"/> is
    /// libx264's quality (0 = lossless); the sidecar lists true spectra for the given start frames.
    /// </summary>
    public static SyntheticSidecar Write(SyntheticScene scene, string mp4Path, int crf = 10, IReadOnlyList<int>? spectrumStarts = null, TimeSpan? timeout = null)
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

        var starts = spectrumStarts ?? [0];
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
        var sidecar = new SyntheticSidecar(
            "gid-synth/1",
            "frame at time τ = i/fps shows region r's rest point q at q + D_r(τ), D_r(τ) = (Σ_x A cos(2π f τ + φ), Σ_y A cos(2π f τ + φ)); background static",
            "S_k = Σ_{n=0}^{N-1} F_{n+1} e^{-2πikn/N}, F_t = D(s+t) − D(s), N = 149 (numpy fft, no 1/N); [re, im] per bin",
            encoder, scene, spectra);
        File.WriteAllText(Path.ChangeExtension(mp4Path, ".json"), JsonSerializer.Serialize(sidecar, Json));
        return sidecar;
    }
}
