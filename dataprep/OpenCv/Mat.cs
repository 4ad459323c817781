namespace GidCluster.Dataprep.OpenCv;

/// <summary>OpenCV element types (<c>CV_8UC3</c>, ...), named as in OpenCvSharp's <c>MatType</c>.</summary>
public static class MatType
{
    public const int CV_8UC1 = 0;
    public const int CV_8UC3 = 16;
    public const int CV_32FC1 = 5;
    public const int CV_32FC2 = 13;
}

/// <summary>
/// A <c>cv::Mat</c> owned through a SafeHandle. Pixel data stays native; <see cref="Span{T}"/>
/// views it without copying (valid until the Mat is reallocated by an OpenCV call).
/// </summary>
public sealed unsafe class Mat : IDisposable
{
    internal readonly MatHandle Handle;

    /// <summary>An empty Mat (OpenCV sizes it on first use).</summary>
    public Mat() : this(0, 0, MatType.CV_8UC1) { }

    /// <summary>A zero-filled rows×cols Mat of <paramref name="type"/>.</summary>
    public Mat(int rows, int cols, int type)
    {
        NativeMethods.Check(NativeMethods.gid_cv_mat_new(rows, cols, type, out var p));
        Handle = new MatHandle(p);
    }

    public int Rows => Info().Rows;
    public int Cols => Info().Cols;
    public int Type => Info().Type;
    public bool Empty => Info().Rows == 0;

    /// <summary>Bytes per element (e.g. 3 for CV_8UC3, 8 for CV_32FC2).</summary>
    public static int ElemSize(int type) => type switch
    {
        MatType.CV_8UC1 => 1,
        MatType.CV_8UC3 => 3,
        MatType.CV_32FC1 => 4,
        MatType.CV_32FC2 => 8,
        _ => throw new NotSupportedException($"Mat type {type} is not used by this binding"),
    };

    /// <summary>The pixel data as a span of <typeparamref name="T"/> (continuous, row-major).</summary>
    public Span<T> Span<T>() where T : unmanaged
    {
        var i = Info();
        if (i.Rows == 0)
            return [];
        return new Span<T>((void*)i.Data, checked((int)(i.Step * i.Rows / sizeof(T))));
    }

    /// <summary>Copies the pixel data out.</summary>
    public T[] ToArray<T>() where T : unmanaged => Span<T>().ToArray();

    /// <summary>Reshapes to rows×cols×type (if needed) and copies <paramref name="data"/> in.</summary>
    public void SetData<T>(int rows, int cols, int type, ReadOnlySpan<T> data) where T : unmanaged
    {
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(data);
        fixed (byte* p = bytes)
            NativeMethods.Check(NativeMethods.gid_cv_mat_from_bytes(Handle, rows, cols, type, p, bytes.Length));
    }

    public void SetTo(double v0, double v1 = 0, double v2 = 0, double v3 = 0) =>
        NativeMethods.Check(NativeMethods.gid_cv_mat_set_scalar(Handle, v0, v1, v2, v3));

    public void CopyTo(Mat destination) => NativeMethods.Check(NativeMethods.gid_cv_mat_copy_to(Handle, destination.Handle));

    public void Dispose() => Handle.Dispose();

    private (int Rows, int Cols, int Type, IntPtr Data, long Step) Info()
    {
        NativeMethods.Check(NativeMethods.gid_cv_mat_info(Handle, out var rows, out var cols, out var type, out var data, out var step));
        return (rows, cols, type, data, step);
    }
}
