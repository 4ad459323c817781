using GidCluster.Native;

namespace GidCluster.Dataprep.OpenCv;

/// <summary>Library-wide OpenCV calls, named as in OpenCvSharp (<c>Cv2.*</c>).</summary>
public static unsafe class Cv2
{
    /// <summary>The OpenCV version the shim was compiled against, e.g. <c>4.6.0</c>.</summary>
    public static string GetVersionString() => NativeText.Read(&NativeMethods.gid_cv_version);

    /// <summary>OpenCV's own thread pool (separate from libtorch's).</summary>
    public static void SetNumThreads(int threads) => NativeMethods.Check(NativeMethods.gid_cv_set_num_threads(threads));

    /// <summary>Makes OpenCV raise an error inside the shim, to prove errors arrive as exceptions.</summary>
    public static void RaiseSelfTestError() => NativeMethods.Check(NativeMethods.gid_cv_self_test_error());
}
