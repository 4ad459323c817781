using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Distributed;

/// <summary>
/// PyTorch's <c>DistributedDataParallel</c> behaviour over <see cref="ProcessGroup"/>: on
/// construction every rank takes rank 0's parameters and buffers; after each backward,
/// <see cref="AverageGradients"/> flattens the gradients into buckets of about
/// <c>bucketCapMb</c>, all-reduces each bucket and divides by the world size, so every rank
/// steps its optimizer with the gradient of the global batch. (PyTorch overlaps the all-reduces
/// with backward through autograd hooks; TorchSharp exposes no such hooks, so this runs after it.)
/// </summary>
public sealed class DistributedDataParallel<T> where T : nn.Module
{
    private readonly List<Parameter> _parameters;
    private readonly List<List<Parameter>> _buckets = [];

    public DistributedDataParallel(T module, ProcessGroup group, double bucketCapMb = 25)
    {
        if (bucketCapMb <= 0) throw new ArgumentOutOfRangeException(nameof(bucketCapMb), bucketCapMb, "bucket size must be positive");
        Module = module;
        Group = group;
        _parameters = module.parameters().Where(p => p.requires_grad).ToList();
        // Buckets in reverse registration order, as PyTorch fills them (the order gradients become ready).
        var cap = (long)(bucketCapMb * 1024 * 1024);
        List<Parameter>? current = null;
        long bytes = 0;
        foreach (var p in Enumerable.Reverse(_parameters))
        {
            var size = p.numel() * p.element_size();
            if (current is null || (bytes > 0 && bytes + size > cap) || current[0].dtype != p.dtype)
            {
                current = [];
                _buckets.Add(current);
                bytes = 0;
            }
            current.Add(p);
            bytes += size;
        }
        BroadcastState();
    }

    public T Module { get; }
    public ProcessGroup Group { get; }

    /// <summary>How many all-reduces one <see cref="AverageGradients"/> makes.</summary>
    public int BucketCount => _buckets.Count;

    /// <summary>All-reduces and averages the gradients (call after backward, before the optimizer step).</summary>
    public void AverageGradients()
    {
        using var noGrad = no_grad();
        foreach (var bucket in _buckets)
        {
            using var scope = NewDisposeScope();
            // A parameter without a gradient on this rank contributes zeros, so every rank makes the same calls.
            var flat = cat(bucket.Select(p => (p.grad ?? zeros_like(p)).reshape(-1)).ToList(), 0);
            Group.AllReduce(flat, ReduceOp.Average);
            long offset = 0;
            foreach (var p in bucket)
            {
                var n = p.numel();
                var slice = flat.narrow(0, offset, n).view_as(p);
                if (p.grad is null) p.grad = slice.clone().DetachFromDisposeScope();
                else p.grad.copy_(slice);
                offset += n;
            }
        }
    }

    private void BroadcastState()
    {
        using var noGrad = no_grad();
        foreach (var t in Module.parameters().Cast<Tensor>().Concat(Module.buffers()))
        {
            using var scope = NewDisposeScope();
            if (t.is_contiguous())
            {
                Group.Broadcast(t, 0);
            }
            else
            {
                var copy = t.contiguous();
                Group.Broadcast(copy, 0);
                t.copy_(copy);
            }
        }
    }
}
