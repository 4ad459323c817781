using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Training.Tensors;

/// <summary>
/// Mixed precision for the forward pass, with the op-level semantics of PyTorch's <c>torch.autocast</c> (TorchSharp 0.107
/// has no autocast). Inside a region (<see cref="Enter(string)"/>), convolutions, linear layers and the attention products
/// cast their operands (input, weight, bias) to the region's dtype; normalisation, softmax and losses cast theirs to
/// float32 (as CUDA autocast's float32 list does); every other op runs in the dtype it is given, under torch's type
/// promotion. Parameters stay float32: the casts are differentiable, so their gradients arrive in float32, and the
/// optimizer, EMA and checkpoints never see another dtype. Only the modules of <see cref="Layers"/> and the calls of
/// this class take part; a plain torch op is not cast. Like torch.autocast, the region belongs to the thread that
/// entered it, and backward runs after it has closed (the casts are recorded in the graph).
/// </summary>
public static class Autocast
{
    /// <summary>Every op in float32: autocast off.</summary>
    public const string Float32Precision = "fp32";

    /// <summary>Convolutions, linear layers and attention products in bfloat16 (8 exponent bits: no loss scaling).</summary>
    public const string BFloat16Precision = "bf16";

    /// <summary>The precisions a config may name.</summary>
    public static IReadOnlyList<string> Precisions { get; } = [Float32Precision, BFloat16Precision];

    [ThreadStatic] private static ScalarType? t_reduced;

    /// <summary>The dtype of the current region's convolutions, linear layers and products; null outside a region.</summary>
    public static ScalarType? Reduced => t_reduced;

    /// <summary>Opens a region of <paramref name="precision"/> (one of <see cref="Precisions"/>) on this thread; disposing it restores the enclosing one.</summary>
    public static Region Enter(string precision) => Enter(precision switch
    {
        Float32Precision => (ScalarType?)null,
        BFloat16Precision => ScalarType.BFloat16,
        _ => throw new ArgumentException($"precision '{precision}' is not one of {string.Join(", ", Precisions)}", nameof(precision)),
    });

    /// <summary>Opens a region whose convolutions, linear layers and products run in <paramref name="reduced"/> (null: float32 throughout).</summary>
    public static Region Enter(ScalarType? reduced)
    {
        var region = new Region(t_reduced);
        t_reduced = reduced;
        return region;
    }

    /// <summary>An open autocast region; <see cref="Dispose"/> closes it.</summary>
    public sealed class Region : IDisposable
    {
        private readonly ScalarType? _outer;
        private bool _closed;

        internal Region(ScalarType? outer) => _outer = outer;

        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            t_reduced = _outer;
        }
    }

    /// <summary>
    /// An operand of a convolution, linear layer or matrix product: cast to the region's dtype inside a region. Always a
    /// new tensor the caller owns (an alias when nothing is cast). float64 is left alone, as torch.autocast leaves it.
    /// </summary>
    public static Tensor ToReduced(Tensor t) =>
        t_reduced is { } dtype && t.is_floating_point() && t.dtype != dtype && t.dtype != ScalarType.Float64 ? t.to(dtype) : t.alias();

    /// <summary>An input of a normalisation, softmax, loss or reduction: widened to float32 inside a region. Always a new tensor the caller owns.</summary>
    public static Tensor ToFloat32(Tensor t) =>
        t_reduced is not null && t.is_floating_point() && t.dtype != ScalarType.Float32 && t.dtype != ScalarType.Float64 ? t.to(ScalarType.Float32) : t.alias();

    /// <summary><c>a @ b</c> with both operands in the region's dtype (an attention product).</summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        using var ra = ToReduced(a);
        using var rb = ToReduced(b);
        return Ops.MatMul(ra, rb);
    }

    /// <summary>Softmax over <paramref name="dim"/>, in float32 inside a region (on CUDA autocast's float32 list).</summary>
    public static Tensor Softmax(Tensor x, long dim)
    {
        using var wide = ToFloat32(x);
        return wide.softmax(dim);
    }
}
