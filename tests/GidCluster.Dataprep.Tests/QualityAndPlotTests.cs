using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Plots;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Statistics;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Dataprep.Tests;

public class QualityAndPlotTests
{
    private sealed class ListSink : ISampleSink
    {
        public List<Sample> Samples { get; } = [];
        public void Write(Sample sample) => Samples.Add(sample);
    }

    private static void Ffmpeg(params string[] args)
    {
        var result = Programs.Run("ffmpeg", new[] { "-hide_banner", "-loglevel", "error", "-y" }.Concat(args), TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, $"ffmpeg failed: {result.Stderr}");
    }

    private static Sample OneSample(string video)
    {
        var sink = new ListSink();
        var report = VideoDataprep.Process(video, new DataprepOptions { MaxClips = 1, ConsistencyStride = 30 }, sink);
        Assert.True(report.Status == VideoStatus.Ok, report.Reason);
        return Assert.Single(sink.Samples);
    }

    [Fact]
    public void Camera_shake_and_scene_cuts_are_flagged_not_dropped()
    {
        using var dir = Paths.NewTempDir();
        // The whole picture swings ±20 px horizontally: a shaking camera.
        var shake = Path.Combine(dir.Path, "shake.mp4");
        Ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=480x300:rate=30", "-frames:v", "152",
            "-vf", "crop=400:250:'40+20*sin(2*PI*t*0.8)':25", "-pix_fmt", "yuv420p", shake);
        var s = OneSample(shake);
        Assert.Contains("camera_shake", s.Quality.Flags);
        Assert.True(s.Quality.MeanDisplacement > 2, $"mean displacement {s.Quality.MeanDisplacement}");

        // A hard cut from one scene to a different one at frame 70.
        var cut = Path.Combine(dir.Path, "cut.mp4");
        Ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x200:rate=30:duration=2.34", "-f", "lavfi", "-i", "mandelbrot=size=320x200:rate=30:end_scale=0.2",
            "-filter_complex", "[1:v]trim=end_frame=90,setpts=PTS-STARTPTS[b];[0:v][b]concat=n=2:v=1", "-pix_fmt", "yuv420p", cut);
        var c = OneSample(cut);
        Assert.Contains("scene_cut", c.Quality.Flags);
    }

    [Fact]
    public void Spectrum_plot_is_a_png_with_both_series()
    {
        var spectrum = new PowerSpectrum();
        const int plane = 4;
        var volume = new Half[16 * 4 * plane];
        for (var k = 0; k < 16; k++)
        {
            for (var p = 0; p < plane; p++)
            {
                volume[k * 4 * plane + p] = (Half)(100.0 / (k + 1));          // Re x
                volume[k * 4 * plane + 2 * plane + p] = (Half)(10.0 / (k + 1)); // Re y
            }
        }
        spectrum.Add(volume, plane);
        Assert.Equal(100.0 * 100.0, spectrum.MeanX(0), 6);
        Assert.Equal(10.0 * 10.0 / 4, spectrum.MeanY(1), 6);
        var round = PowerSpectrum.FromJson(spectrum.ToJson());
        Assert.Equal(spectrum.MeanY(5), round.MeanY(5));

        using var dir = Paths.NewTempDir();
        var png = Path.Combine(dir.Path, "spectrum.png");
        SpectrumPlot.Write(spectrum, "test spectrum", png);
        // Independent check with python3-opencv: size, and pixels of the x (blue) and y (orange) series colours.
        var output = Programs.RunPython("""
            import sys, cv2, numpy as np
            img = cv2.imread(sys.argv[1])
            blue = np.all(np.abs(img.astype(int) - [180, 119, 31]) < 30, axis=2).sum()
            orange = np.all(np.abs(img.astype(int) - [14, 127, 255]) < 30, axis=2).sum()
            print(img.shape[1], img.shape[0], blue, orange)
            """, [png]).Trim().Split(' ').Select(int.Parse).ToArray();
        Assert.Equal(900, output[0]);
        Assert.Equal(560, output[1]);
        Assert.True(output[2] > 200 && output[3] > 200, $"series pixels: blue {output[2]}, orange {output[3]}");
    }
}
