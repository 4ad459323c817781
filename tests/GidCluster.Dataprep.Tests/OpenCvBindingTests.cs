using GidCluster.Dataprep.OpenCv;
using GidCluster.Native;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Dataprep.Tests;

public class OpenCvBindingTests(SyntheticFixture synth) : IClassFixture<SyntheticFixture>
{
    [Fact]
    public void OpenCv_errors_arrive_as_exceptions_with_OpenCVs_message()
    {
        using var src = new Mat();
        using var dst = new Mat();
        var e = Assert.Throws<NativeException>(() => Cv2.Resize(src, dst, 10, 10, InterpolationFlags.Area));
        Assert.Equal(NativeStatus.EngineError, e.Status);
        Assert.Contains("!ssize.empty()", e.Message);
        var bad = Assert.Throws<NativeException>(() => Cv2.Resize(src, dst, 0, 10, InterpolationFlags.Area));
        Assert.Equal(NativeStatus.ArgumentError, bad.Status);
    }

    [Fact]
    public void Mat_round_trips_data_and_flow_rejects_color_input()
    {
        using var m = new Mat();
        var data = Enumerable.Range(0, 6 * 4 * 3).Select(i => (byte)i).ToArray();
        m.SetData<byte>(6, 4, MatType.CV_8UC3, data);
        Assert.Equal((6, 4), (m.Rows, m.Cols));
        Assert.Equal(data, m.ToArray<byte>());
        using var flow = new DenseOpticalFlow(FlowParams.Dis(DisPreset.Medium));
        using var result = new Mat();
        var e = Assert.Throws<NativeException>(() => flow.Calc(m, m, result));
        Assert.Contains("8-bit grayscale", e.Message);
    }

    [Fact]
    public void Opening_a_non_video_reports_not_opened()
    {
        using var dir = Paths.NewTempDir();
        var path = Path.Combine(dir.Path, "notes.mp4");
        File.WriteAllText(path, "this is text, not a video");
        using var capture = new VideoCapture(path);
        Assert.False(capture.IsOpened);
    }

    /// <summary>
    /// Our decode + resize + gray + each flow algorithm against Debian's python3-opencv doing the
    /// same calls on the same file: the binding must not change the numbers.
    /// </summary>
    [Theory]
    [InlineData("dis-medium")]
    [InlineData("farneback")]
    public void Flow_matches_python_cv2_on_the_same_frames(string method)
    {
        const int t = 12;
        using var capture = new VideoCapture(synth.Video);
        using var raw = new Mat();
        using var gray0 = new Mat();
        using var grayT = new Mat();
        for (var i = 0; i <= t; i++)
        {
            Assert.True(capture.Read(raw));
            if (i == 0) Cv2.CvtColor(raw, gray0, ColorConversionCodes.BGR2GRAY);
            if (i == t) Cv2.CvtColor(raw, grayT, ColorConversionCodes.BGR2GRAY);
        }
        Cv2.SetNumThreads(1);
        using var engine = new DenseOpticalFlow(FlowParams.Parse(method));
        using var flow = new Mat();
        engine.Calc(gray0, grayT, flow);
        engine.Calc(gray0, grayT, flow); // a second call on the same buffer must not drift (zeroed first)
        var ours = flow.ToArray<float>();

        var script = """
            import sys, cv2, numpy as np
            path, t, method, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
            cv2.setNumThreads(1)
            cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
            frames = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2GRAY) for _ in range(t + 1)]
            if method == "dis-medium":
                f = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(frames[0], frames[t], None)
            else:
                f = cv2.calcOpticalFlowFarneback(frames[0], frames[t], None, 0.5, 5, 13, 10, 5, 1.1, 0)
            f.astype(np.float32).tofile(out)
            """;
        using var dir = Paths.NewTempDir();
        var outFile = Path.Combine(dir.Path, "flow.f32");
        Programs.RunPython(script, [synth.Video, t.ToString(), method, outFile], TimeSpan.FromMinutes(2));
        var reference = new float[ours.Length];
        Buffer.BlockCopy(File.ReadAllBytes(outFile), 0, reference, 0, ours.Length * 4);
        var maxDiff = ours.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff < 1e-4, $"{method}: max |ours − cv2| = {maxDiff}");
    }
}
