using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GidCluster.Native;

namespace GidCluster.Torch;

/// <summary>P/Invoke declarations of libgid_torch (see native/torch). Status-returning calls go through <see cref="Check"/>.</summary>
internal static unsafe partial class NativeMethods
{
    private const string Lib = "gid_torch";

    // The resolver must be in place before the first P/Invoke of this assembly, whichever type makes it.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void RegisterResolver()
    {
        NativeLibraries.Register(typeof(NativeMethods).Assembly);
        CpuAllocator.RetainFreedMemory();
    }
#pragma warning restore CA2255

    [DllImport(Lib)] internal static extern int gid_torch_version(byte* buffer, int capacity);
    [DllImport(Lib)] internal static extern int gid_torch_last_error(byte* buffer, int capacity);
    [DllImport(Lib)] internal static extern int gid_torch_cuda_compiled();
    [DllImport(Lib)] internal static extern int gid_torch_set_num_threads(int threads);
    [DllImport(Lib)] internal static extern int gid_torch_get_num_threads(out int threads);

    /// <summary>Throws the libtorch error recorded for this thread when <paramref name="status"/> is not ok.</summary>
    internal static void Check(int status)
    {
        if (status != 0)
            throw new NativeException("libtorch", (NativeStatus)status, NativeText.Read(&gid_torch_last_error));
    }
}
