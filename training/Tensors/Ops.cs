using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Training.Tensors;

/// <summary>Ops whose TorchSharp 0.107.0 binding can take the process down; model code calls these instead.</summary>
public static class Ops
{
    /// <summary>
    /// <c>torch.matmul</c> with its shapes checked first. LibTorchSharp's <c>THSTensor_matmul</c> is the one
    /// export without the try/catch the others have, so libtorch's shape error there aborts the process
    /// ("terminate called after throwing c10::Error") instead of becoming an exception.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Dimensions == 0 || b.Dimensions == 0)
            throw new ArgumentException("matmul needs tensors of at least one dimension, got a scalar");
        var inner = a.shape[^1];
        var other = b.Dimensions == 1 ? b.shape[0] : b.shape[^2];
        if (inner != other)
            throw new ArgumentException($"matmul shapes cannot be multiplied: [{string.Join(", ", a.shape)}] @ [{string.Join(", ", b.shape)}] ({inner} != {other})");
        var batchA = a.shape[..Math.Max(0, (int)a.Dimensions - 2)];
        var batchB = b.shape[..Math.Max(0, (int)b.Dimensions - 2)];
        for (int i = batchA.Length - 1, j = batchB.Length - 1; i >= 0 && j >= 0; i--, j--)
            if (batchA[i] != batchB[j] && batchA[i] != 1 && batchB[j] != 1)
                throw new ArgumentException($"matmul batch dimensions do not broadcast: [{string.Join(", ", a.shape)}] @ [{string.Join(", ", b.shape)}]");
        if (a.dtype != b.dtype)
            throw new ArgumentException($"matmul needs equal dtypes, got {a.dtype} and {b.dtype}");
        if (a.device_type != b.device_type || a.device_index != b.device_index)
            throw new ArgumentException($"matmul needs both tensors on one device, got {a.device} and {b.device}");
        return a.matmul(b);
    }

    /// <summary>
    /// <c>torch.baddbmm</c>: beta·input + alpha·(batch1 @ batch2). TorchSharp 0.107.0's own passes its
    /// arguments to LibTorchSharp in the wrong order (input where batch1 belongs), so this composes it.
    /// </summary>
    public static Tensor BAddBmm(Tensor input, Tensor batch1, Tensor batch2, double beta = 1, double alpha = 1)
    {
        using var scope = NewDisposeScope();
        var product = batch1.bmm(batch2);
        if (alpha != 1) product = product * alpha;
        // beta = 0 ignores input entirely (NaN in it does not propagate), as in PyTorch.
        var result = beta == 0 ? product : product + (beta == 1 ? input : input * beta);
        return result.MoveToOuterDisposeScope();
    }
}
