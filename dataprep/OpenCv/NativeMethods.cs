using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GidCluster.Native;

namespace GidCluster.Dataprep.OpenCv;

/// <summary>P/Invoke declarations of libgid_cv (see native/opencv). Status-returning calls go through <see cref="Check"/>.</summary>
internal static unsafe partial class NativeMethods
{
    private const string Lib = "gid_cv";

    // The resolver must be in place before the first P/Invoke of this assembly, whichever type makes it.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void RegisterResolver() => NativeLibraries.Register(typeof(NativeMethods).Assembly);
#pragma warning restore CA2255

    [DllImport(Lib)] internal static extern int gid_cv_version(byte* buffer, int capacity);
    [DllImport(Lib)] internal static extern int gid_cv_last_error(byte* buffer, int capacity);
    [DllImport(Lib)] internal static extern int gid_cv_set_num_threads(int threads);
    [DllImport(Lib)] internal static extern int gid_cv_self_test_error();

    /// <summary>Throws the OpenCV error recorded for this thread when <paramref name="status"/> is not ok.</summary>
    internal static void Check(int status)
    {
        if (status != 0)
            throw new NativeException("OpenCV", (NativeStatus)status, NativeText.Read(&gid_cv_last_error));
    }
}
