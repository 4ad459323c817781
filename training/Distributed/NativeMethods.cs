using System.Runtime.InteropServices;
using GidCluster.Native;

namespace GidCluster.Training.Distributed;

/// <summary>P/Invoke into <c>libgid_collectives.so</c> (native/collectives, over Gloo and NCCL).</summary>
internal static unsafe partial class NativeMethods
{
    private const string Library = "gid_collectives";

    static NativeMethods() => NativeLibraries.Register(typeof(NativeMethods).Assembly);

    [LibraryImport(Library)] internal static partial int gid_coll_last_error(byte* buffer, int capacity);
    [LibraryImport(Library)] internal static partial IntPtr gid_coll_gloo_version();
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int gid_coll_init(int kind, string address, int port, string interfaceHost, int rank, int size, int timeoutMs, out IntPtr group);
    [LibraryImport(Library)] internal static partial int gid_coll_free(IntPtr group);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int gid_coll_nccl_load(string? ncclPath, string? cudartPath, out int version);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int gid_coll_init_nccl(int kind, string address, int port, int rank, int size, int device, int timeoutMs,
        string? ncclPath, string? cudartPath, out IntPtr group);
    [LibraryImport(Library)] internal static partial int gid_coll_allreduce(IntPtr group, IntPtr data, long count, int dtype, int op);
    [LibraryImport(Library)] internal static partial int gid_coll_broadcast(IntPtr group, IntPtr data, long bytes, int root);
    [LibraryImport(Library)] internal static partial int gid_coll_barrier(IntPtr group);

    /// <summary>The data pointer of a tensor (CPU or CUDA), storage offset included: LibTorchSharp's own export.</summary>
    [LibraryImport("LibTorchSharp")] internal static partial IntPtr THSTensor_data(IntPtr handle);

    internal static void Check(int status, string engine = "gloo")
    {
        if (status != 0)
            throw new NativeException(engine, (NativeStatus)status, NativeText.Read(&gid_coll_last_error));
    }
}
