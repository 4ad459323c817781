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
    [DllImport(Lib)] internal static extern int gid_cv_get_num_threads(out int threads);
    [DllImport(Lib)] internal static extern int gid_cv_self_test_error();

    // Mat
    [DllImport(Lib)] internal static extern int gid_cv_mat_new(int rows, int cols, int type, out IntPtr mat);
    [DllImport(Lib)] internal static extern void gid_cv_mat_free(IntPtr mat);
    [DllImport(Lib)] internal static extern int gid_cv_mat_info(MatHandle mat, out int rows, out int cols, out int type, out IntPtr data, out long step);
    [DllImport(Lib)] internal static extern int gid_cv_mat_set_zero(MatHandle mat);
    [DllImport(Lib)] internal static extern int gid_cv_mat_set_scalar(MatHandle mat, double v0, double v1, double v2, double v3);
    [DllImport(Lib)] internal static extern int gid_cv_mat_from_bytes(MatHandle mat, int rows, int cols, int type, byte* bytes, long length);
    [DllImport(Lib)] internal static extern int gid_cv_mat_copy_to(MatHandle src, MatHandle dst);

    // VideoCapture
    [DllImport(Lib, CharSet = CharSet.Ansi, BestFitMapping = false)]
    internal static extern int gid_cv_capture_open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, out IntPtr capture, out int opened);
    [DllImport(Lib)] internal static extern void gid_cv_capture_free(IntPtr capture);
    [DllImport(Lib)] internal static extern int gid_cv_capture_get(VideoCaptureHandle capture, int prop, out double value);
    [DllImport(Lib)] internal static extern int gid_cv_capture_set(VideoCaptureHandle capture, int prop, double value, out int accepted);
    [DllImport(Lib)] internal static extern int gid_cv_capture_read(VideoCaptureHandle capture, MatHandle frame, out int ok, out double posMsec);

    // imgproc, drawing, codecs
    [DllImport(Lib)] internal static extern int gid_cv_resize(MatHandle src, MatHandle dst, int width, int height, int interpolation);
    [DllImport(Lib)] internal static extern int gid_cv_cvt_color(MatHandle src, MatHandle dst, int code);
    [DllImport(Lib)] internal static extern int gid_cv_line(MatHandle img, int x1, int y1, int x2, int y2, double b, double g, double r, int thickness, int lineType);
    [DllImport(Lib)] internal static extern int gid_cv_rectangle(MatHandle img, int x1, int y1, int x2, int y2, double b, double g, double r, int thickness);
    [DllImport(Lib)] internal static extern int gid_cv_circle(MatHandle img, int x, int y, int radius, double b, double g, double r, int thickness, int lineType);
    [DllImport(Lib)] internal static extern int gid_cv_put_text(MatHandle img, [MarshalAs(UnmanagedType.LPUTF8Str)] string text, int x, int y, double scale, double b, double g, double r, int thickness);
    [DllImport(Lib)] internal static extern int gid_cv_get_text_size([MarshalAs(UnmanagedType.LPUTF8Str)] string text, double scale, int thickness, out int width, out int height);
    [DllImport(Lib)] internal static extern int gid_cv_imwrite([MarshalAs(UnmanagedType.LPUTF8Str)] string path, MatHandle img, out int written);
    [DllImport(Lib)] internal static extern int gid_cv_imencode([MarshalAs(UnmanagedType.LPUTF8Str)] string ext, MatHandle img, out IntPtr buffer, out byte* data, out long length);
    [DllImport(Lib)] internal static extern void gid_cv_buffer_free(IntPtr buffer);
    [DllImport(Lib)] internal static extern int gid_cv_imread([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, MatHandle dst);

    // Optical flow
    [DllImport(Lib)] internal static extern int gid_cv_flow_new(in FlowParams parameters, out IntPtr flow);
    [DllImport(Lib)] internal static extern void gid_cv_flow_free(IntPtr flow);
    [DllImport(Lib)] internal static extern int gid_cv_flow_calc(FlowHandle flow, MatHandle prev, MatHandle next, MatHandle result);

    /// <summary>Throws the OpenCV error recorded for this thread when <paramref name="status"/> is not ok.</summary>
    internal static void Check(int status)
    {
        if (status != 0)
            throw new NativeException("OpenCV", (NativeStatus)status, NativeText.Read(&gid_cv_last_error));
    }
}

/// <summary>Owns a <c>cv::Mat*</c>.</summary>
internal sealed class MatHandle(IntPtr p) : OwnedHandle(p)
{
    protected override void Free(IntPtr handle) => NativeMethods.gid_cv_mat_free(handle);
}

/// <summary>Owns a <c>cv::VideoCapture*</c>.</summary>
internal sealed class VideoCaptureHandle(IntPtr p) : OwnedHandle(p)
{
    protected override void Free(IntPtr handle) => NativeMethods.gid_cv_capture_free(handle);
}

/// <summary>Owns a flow engine (one OpenCV DenseOpticalFlow, or Farneback's parameters).</summary>
internal sealed class FlowHandle(IntPtr p) : OwnedHandle(p)
{
    protected override void Free(IntPtr handle) => NativeMethods.gid_cv_flow_free(handle);
}
