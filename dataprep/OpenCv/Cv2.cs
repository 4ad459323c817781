using GidCluster.Native;

namespace GidCluster.Dataprep.OpenCv;

/// <summary><c>cv::InterpolationFlags</c>.</summary>
public enum InterpolationFlags
{
    Nearest = 0,
    Linear = 1,
    Cubic = 2,
    Area = 3,
}

/// <summary>The <c>cv::ColorConversionCodes</c> this binding uses.</summary>
public enum ColorConversionCodes
{
    BGR2RGB = 4,
    RGB2BGR = 4,
    BGR2GRAY = 6,
    RGB2GRAY = 7,
    GRAY2BGR = 8,
}

/// <summary>Library-wide OpenCV calls, named as in OpenCvSharp (<c>Cv2.*</c>).</summary>
public static unsafe class Cv2
{
    /// <summary>The OpenCV version the shim was compiled against, e.g. <c>4.6.0</c>.</summary>
    public static string GetVersionString() => NativeText.Read(&NativeMethods.gid_cv_version);

    /// <summary>OpenCV's own thread pool (separate from libtorch's).</summary>
    public static void SetNumThreads(int threads) => NativeMethods.Check(NativeMethods.gid_cv_set_num_threads(threads));

    public static int GetNumThreads()
    {
        NativeMethods.Check(NativeMethods.gid_cv_get_num_threads(out var n));
        return n;
    }

    /// <summary>Makes OpenCV raise an error inside the shim, to prove errors arrive as exceptions.</summary>
    public static void RaiseSelfTestError() => NativeMethods.Check(NativeMethods.gid_cv_self_test_error());

    public static void Resize(Mat src, Mat dst, int width, int height, InterpolationFlags interpolation) =>
        NativeMethods.Check(NativeMethods.gid_cv_resize(src.Handle, dst.Handle, width, height, (int)interpolation));

    public static void CvtColor(Mat src, Mat dst, ColorConversionCodes code) =>
        NativeMethods.Check(NativeMethods.gid_cv_cvt_color(src.Handle, dst.Handle, (int)code));

    /// <summary>Draws an anti-aliased line; colours are (B, G, R) as in OpenCV.</summary>
    public static void Line(Mat img, int x1, int y1, int x2, int y2, (double B, double G, double R) color, int thickness = 1) =>
        NativeMethods.Check(NativeMethods.gid_cv_line(img.Handle, x1, y1, x2, y2, color.B, color.G, color.R, thickness, 16));

    /// <summary>Draws a rectangle; <paramref name="thickness"/> −1 fills it.</summary>
    public static void Rectangle(Mat img, int x1, int y1, int x2, int y2, (double B, double G, double R) color, int thickness = 1) =>
        NativeMethods.Check(NativeMethods.gid_cv_rectangle(img.Handle, x1, y1, x2, y2, color.B, color.G, color.R, thickness));

    public static void Circle(Mat img, int x, int y, int radius, (double B, double G, double R) color, int thickness = 1) =>
        NativeMethods.Check(NativeMethods.gid_cv_circle(img.Handle, x, y, radius, color.B, color.G, color.R, thickness, 16));

    /// <summary>Hershey-simplex text with its baseline-left corner at (x, y).</summary>
    public static void PutText(Mat img, string text, int x, int y, double scale, (double B, double G, double R) color, int thickness = 1) =>
        NativeMethods.Check(NativeMethods.gid_cv_put_text(img.Handle, text, x, y, scale, color.B, color.G, color.R, thickness));

    public static (int Width, int Height) GetTextSize(string text, double scale, int thickness = 1)
    {
        NativeMethods.Check(NativeMethods.gid_cv_get_text_size(text, scale, thickness, out var w, out var h));
        return (w, h);
    }

    /// <summary>Writes an image file (format from the extension); throws naming the path if OpenCV cannot.</summary>
    public static void ImWrite(string path, Mat img)
    {
        NativeMethods.Check(NativeMethods.gid_cv_imwrite(path, img.Handle, out var written));
        if (written == 0)
            throw new IOException($"OpenCV could not write the image {path}");
    }

    /// <summary>Encodes an image in memory; <paramref name="ext"/> like <c>.png</c>.</summary>
    public static byte[] ImEncode(string ext, Mat img)
    {
        NativeMethods.Check(NativeMethods.gid_cv_imencode(ext, img.Handle, out var buffer, out var data, out var length));
        try
        {
            return new ReadOnlySpan<byte>(data, checked((int)length)).ToArray();
        }
        finally
        {
            NativeMethods.gid_cv_buffer_free(buffer);
        }
    }

    /// <summary>Reads an image file as BGR8 (flags 1) or gray (flags 0).</summary>
    public static Mat ImRead(string path, int flags = 1)
    {
        var m = new Mat();
        try
        {
            NativeMethods.Check(NativeMethods.gid_cv_imread(path, flags, m.Handle));
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }
}
