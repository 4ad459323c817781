using System.Globalization;
using System.Runtime.InteropServices;

namespace GidCluster.Dataprep.OpenCv;

/// <summary>The dense flow algorithms of OpenCV 4.6 (core video module and contrib optflow).</summary>
public enum FlowMethod
{
    Dis = 0,
    Farneback = 1,
    DeepFlow = 2,
    DualTvl1 = 3,
}

/// <summary>DIS presets (<c>cv::DISOpticalFlow::PRESET_*</c>).</summary>
public enum DisPreset
{
    UltraFast = 0,
    Fast = 1,
    Medium = 2,
}

/// <summary>
/// Parameters of a flow engine; mirrors <c>gid_flow_params</c> in native/opencv/flow.cpp field
/// for field. Negative DIS fields keep the preset's value.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FlowParams
{
    public FlowMethod Method;
    public DisPreset DisPreset;
    public int DisFinestScale;
    public int DisVariationalIterations;
    public int DisPatchSize;
    public int DisPatchStride;
    public int DisGradientDescentIterations;
    public double FarnebackPyrScale;
    public int FarnebackLevels;
    public int FarnebackWinSize;
    public int FarnebackIterations;
    public int FarnebackPolyN;
    public double FarnebackPolySigma;

    /// <summary>DIS with a preset; <paramref name="variationalIterations"/> &lt; 0 keeps the preset's refinement.</summary>
    public static FlowParams Dis(DisPreset preset, int variationalIterations = -1, int finestScale = -1) => new()
    {
        Method = FlowMethod.Dis,
        DisPreset = preset,
        DisFinestScale = finestScale,
        DisVariationalIterations = variationalIterations,
        DisPatchSize = -1,
        DisPatchStride = -1,
        DisGradientDescentIterations = -1,
    };

    /// <summary>Farneback; defaults are those of ../shared/bench/dataprep_reference.py.</summary>
    public static FlowParams Farneback(double pyrScale = 0.5, int levels = 5, int winSize = 13, int iterations = 10, int polyN = 5, double polySigma = 1.1) => new()
    {
        Method = FlowMethod.Farneback,
        FarnebackPyrScale = pyrScale,
        FarnebackLevels = levels,
        FarnebackWinSize = winSize,
        FarnebackIterations = iterations,
        FarnebackPolyN = polyN,
        FarnebackPolySigma = polySigma,
    };

    public static FlowParams DeepFlow() => new() { Method = FlowMethod.DeepFlow };

    public static FlowParams DualTvl1() => new() { Method = FlowMethod.DualTvl1 };

    /// <summary>
    /// Parses the names used on the command line and by the Python reference:
    /// <c>dis-ultrafast|dis-fast|dis-medium</c> (optionally <c>,vr=N</c>, <c>,fs=N</c>), <c>farneback</c>, <c>deepflow</c>, <c>tvl1</c>.
    /// </summary>
    public static FlowParams Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
            throw new ArgumentException("empty flow method");
        var p = parts[0].ToLowerInvariant() switch
        {
            "dis-ultrafast" => Dis(OpenCv.DisPreset.UltraFast),
            "dis-fast" => Dis(OpenCv.DisPreset.Fast),
            "dis-medium" => Dis(OpenCv.DisPreset.Medium),
            "farneback" => Farneback(),
            "deepflow" => DeepFlow(),
            "tvl1" => DualTvl1(),
            _ => throw new ArgumentException($"unknown flow method '{parts[0]}' (use dis-ultrafast, dis-fast, dis-medium, farneback, deepflow or tvl1)"),
        };
        foreach (var option in parts.Skip(1))
        {
            var kv = option.Split('=', 2);
            if (kv.Length != 2 || !int.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || p.Method != FlowMethod.Dis)
                throw new ArgumentException($"bad flow option '{option}' in '{text}' (DIS takes vr=N and fs=N)");
            switch (kv[0])
            {
                case "vr": p.DisVariationalIterations = v; break;
                case "fs": p.DisFinestScale = v; break;
                default: throw new ArgumentException($"unknown flow option '{kv[0]}' in '{text}'");
            }
        }
        return p;
    }

    /// <summary>A stable text form with every parameter that matters (stored per sample as <c>flow_method</c>).</summary>
    public override readonly string ToString() => Method switch
    {
        FlowMethod.Dis => $"dis-{DisPreset.ToString().ToLowerInvariant()}" +
            (DisVariationalIterations >= 0 ? $",vr={DisVariationalIterations}" : "") +
            (DisFinestScale >= 0 ? $",fs={DisFinestScale}" : ""),
        FlowMethod.Farneback => string.Create(CultureInfo.InvariantCulture,
            $"farneback,pyr={FarnebackPyrScale},levels={FarnebackLevels},win={FarnebackWinSize},it={FarnebackIterations},polyn={FarnebackPolyN},sigma={FarnebackPolySigma}"),
        FlowMethod.DeepFlow => "deepflow",
        FlowMethod.DualTvl1 => "tvl1",
        _ => Method.ToString(),
    };
}

/// <summary>
/// One dense optical flow engine (like OpenCvSharp's <c>DenseOpticalFlow</c>). Not thread-safe:
/// use one instance per thread.
/// </summary>
public sealed class DenseOpticalFlow : IDisposable
{
    private readonly FlowHandle _handle;

    public DenseOpticalFlow(FlowParams parameters)
    {
        NativeMethods.Check(NativeMethods.gid_cv_flow_new(in parameters, out var p));
        _handle = new FlowHandle(p);
        Parameters = parameters;
    }

    public FlowParams Parameters { get; }

    /// <summary>Flow from <paramref name="prev"/> to <paramref name="next"/> (8-bit gray) into <paramref name="flow"/> (CV_32FC2, zeroed first).</summary>
    public void Calc(Mat prev, Mat next, Mat flow) =>
        NativeMethods.Check(NativeMethods.gid_cv_flow_calc(_handle, prev.Handle, next.Handle, flow.Handle));

    public void Dispose() => _handle.Dispose();
}
