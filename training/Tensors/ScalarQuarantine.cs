using System.Reflection;
using System.Runtime.InteropServices;
using GidCluster.Native;
using TorchSharp;

namespace GidCluster.Training.Tensors;

/// <summary>
/// Makes TorchSharp's <c>Scalar</c>s safe to leave to the finalizer. TorchSharp 0.107 passes a Scalar's native pointer
/// into libtorch without keeping the managed object alive, so a garbage collection on another thread can finalize an
/// implicitly converted one (<c>x * 0.5</c>, the alpha of 1 in <c>a + b</c>, AdamW's <c>mul_(beta1)</c>) while libtorch
/// still reads it: multi-rank training crashed every minute or two with "Unknown scalar type". TorchSharp's imports of
/// <c>LibTorchSharp</c> resolve to <c>libgid_torchsharp.so</c> instead (native/torchsharp), which frees a disposed Scalar
/// only after a grace period and passes every other symbol through to the real library. Installed by
/// <see cref="TorchRuntime.Initialize"/>, before TorchSharp binds its first native function.
/// <c>GID_SCALAR_QUARANTINE=off</c> leaves TorchSharp as shipped (to show the race, in tests).
/// </summary>
public static partial class ScalarQuarantine
{
    public const string Switch = "GID_SCALAR_QUARANTINE";
    private const string Shim = "gid_torchsharp";

    /// <summary>True once TorchSharp's native imports go through the quarantine.</summary>
    public static bool Installed { get; private set; }

    internal static void Install()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(Switch), "off", StringComparison.OrdinalIgnoreCase))
            return;
        NativeLibraries.Register(typeof(ScalarQuarantine).Assembly); // for the stats import below
        NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, Resolve);
        Installed = true;
    }

    /// <summary>Disposed Scalars still held, and how many were freed so far (zeros when not installed).</summary>
    public static (long Held, long Freed) Stats()
    {
        if (!Installed) return (0, 0);
        QuarantineStats(out var held, out var freed);
        return (held, freed);
    }

    private static readonly object Gate = new();
    private static IntPtr _shim;

    /// <summary>The runtime asks once per TorchSharp import it binds (hundreds): the shim is located and loaded once.</summary>
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != "LibTorchSharp")
            return IntPtr.Zero;
        lock (Gate)
        {
            if (_shim != IntPtr.Zero)
                return _shim;
            // The real library first, found as TorchSharp would find it; the shim's dependency on its soname then binds to it.
            if (!NativeLibrary.TryLoad(name, assembly, searchPath, out _))
                return IntPtr.Zero; // the runtime's own search then fails with TorchSharp's usual message
            return _shim = NativeLibrary.Load(NativeLibraries.Locate(Shim));
        }
    }

    [LibraryImport(Shim, EntryPoint = "gid_scalar_quarantine_stats")]
    private static partial void QuarantineStats(out long held, out long freed);
}
