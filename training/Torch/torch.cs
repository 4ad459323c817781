using GidCluster.Native;

namespace GidCluster.Torch;

/// <summary>Entry point of the binding, named as in TorchSharp (<c>torch.*</c>).</summary>
#pragma warning disable IDE1006, CS8981 // lower-case names mirror torch's API on purpose
public static unsafe partial class torch
{
    /// <summary>The libtorch version the shim was compiled against, e.g. <c>1.13.1</c>.</summary>
    public static string __version__ => NativeText.Read(&NativeMethods.gid_torch_version);

    /// <summary>True when the shim was built against a CUDA libtorch.</summary>
    public static bool cuda_compiled => NativeMethods.gid_torch_cuda_compiled() != 0;

    /// <summary>libtorch's intra-op thread pool size (Debian's build defaults to 1: set it).</summary>
    public static void set_num_threads(int threads) => NativeMethods.Check(NativeMethods.gid_torch_set_num_threads(threads));

    public static int get_num_threads()
    {
        NativeMethods.Check(NativeMethods.gid_torch_get_num_threads(out var threads));
        return threads;
    }
}
#pragma warning restore IDE1006, CS8981
