using System.Runtime.InteropServices;

namespace GidCluster.Native;

/// <summary>
/// Owns one object a shim allocated (a pointer; null is invalid) and frees it exactly once, by
/// Dispose or, if that was missed, by the finalizer. Subclasses only say which shim call frees it.
/// </summary>
public abstract class OwnedHandle : SafeHandle
{
    protected OwnedHandle(IntPtr handle) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The shim call that frees <paramref name="handle"/>.</summary>
    protected abstract void Free(IntPtr handle);

    protected sealed override bool ReleaseHandle()
    {
        Free(handle);
        return true;
    }
}
