using System.Runtime.InteropServices;
using GidCluster.Native;

namespace GidCluster.Torch;

/// <summary>Owns one native at::Tensor reference; released exactly once (Dispose or finalizer).</summary>
internal sealed class TensorHandle(IntPtr handle) : OwnedHandle(handle)
{
    /// <summary>Passed where an optional tensor is absent (bias = None): marshals as a null pointer.</summary>
    internal static readonly TensorHandle Null = new(IntPtr.Zero);

    protected override void Free(IntPtr handle) => NativeMethods.gid_t_free(handle);
}

/// <summary>Owns a native at::Generator.</summary>
internal sealed class GeneratorHandle(IntPtr handle) : OwnedHandle(handle)
{
    internal static readonly GeneratorHandle Null = new(IntPtr.Zero);

    protected override void Free(IntPtr handle) => NativeMethods.gid_generator_free(handle);
}

/// <summary>Raw handles of a tensor list for one native call; keeps every tensor alive until disposed.</summary>
internal readonly ref struct HandleList
{
    private readonly SafeHandle[] _owners;
    internal readonly IntPtr[] Pointers;

    internal HandleList(IReadOnlyList<torch.Tensor> tensors)
    {
        _owners = new SafeHandle[tensors.Count];
        Pointers = new IntPtr[tensors.Count];
        var i = 0;
        try
        {
            for (; i < tensors.Count; i++)
            {
                var h = tensors[i].Handle;
                var added = false;
                h.DangerousAddRef(ref added);
                _owners[i] = h;
                Pointers[i] = h.DangerousGetHandle();
            }
        }
        catch
        {
            for (var j = 0; j < i; j++) _owners[j].DangerousRelease();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var h in _owners) h?.DangerousRelease();
    }
}
