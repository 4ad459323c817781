namespace GidCluster.Torch;

// Hand-written wrappers of the ops whose signatures are not in the generated table (Ops.g.cs).
#pragma warning disable IDE1006, CS8981 // torch's spellings
public static unsafe partial class torch
{
    public partial class Tensor
    {
        private static Tensor W(int status, IntPtr r) => Wrap(status, r);

        public Tensor gelu(bool tanh = false) => W(NativeMethods.gid_t_gelu(Handle, tanh ? 1 : 0, out var r), r);

        public Tensor clamp(double? min = null, double? max = null) =>
            W(NativeMethods.gid_t_clamp(Handle, min.HasValue ? 1 : 0, min ?? 0, max.HasValue ? 1 : 0, max ?? 0, out var r), r);

        public Tensor lerp(Tensor end, double weight) => W(NativeMethods.gid_t_lerp(Handle, end.Handle, weight, out var r), r);

        // reductions
        private Tensor Reduce(int kind, long[]? dims, bool keepdim)
        {
            dims ??= [];
            fixed (long* d = dims)
                return W(NativeMethods.gid_t_reduce(Handle, kind, d, dims.Length, keepdim ? 1 : 0, out var r), r);
        }

        public Tensor sum() => Reduce(0, null, false);
        public Tensor sum(long dim, bool keepdim = false) => Reduce(0, [dim], keepdim);
        public Tensor sum(long[] dims, bool keepdim = false) => Reduce(0, dims, keepdim);
        public Tensor mean() => Reduce(1, null, false);
        public Tensor mean(long dim, bool keepdim = false) => Reduce(1, [dim], keepdim);
        public Tensor mean(long[] dims, bool keepdim = false) => Reduce(1, dims, keepdim);
        public Tensor amax(long[] dims, bool keepdim = false) => Reduce(2, dims, keepdim);
        public Tensor amin(long[] dims, bool keepdim = false) => Reduce(3, dims, keepdim);
        public Tensor logsumexp(long dim, bool keepdim = false) => Reduce(4, [dim], keepdim);
        public Tensor prod() => Reduce(5, null, false);
        public Tensor prod(long dim, bool keepdim = false) => Reduce(5, [dim], keepdim);

        private Tensor Var(bool std, long[]? dims, bool unbiased, bool keepdim)
        {
            dims ??= [];
            fixed (long* d = dims)
                return W(NativeMethods.gid_t_var(Handle, std ? 1 : 0, d, dims.Length, unbiased ? 1 : 0, keepdim ? 1 : 0, out var r), r);
        }

        public Tensor var(long[]? dims = null, bool unbiased = true, bool keepdim = false) => Var(false, dims, unbiased, keepdim);
        public Tensor std(long[]? dims = null, bool unbiased = true, bool keepdim = false) => Var(true, dims, unbiased, keepdim);

        public Tensor norm(double p = 2, long[]? dims = null, bool keepdim = false)
        {
            dims ??= [];
            fixed (long* d = dims)
                return W(NativeMethods.gid_t_norm(Handle, p, d, dims.Length, keepdim ? 1 : 0, out var r), r);
        }

        public (Tensor values, Tensor indexes) max(long dim, bool keepdim = false)
        {
            NativeMethods.Check(NativeMethods.gid_t_max_dim(Handle, dim, keepdim ? 1 : 0, 0, out var v, out var i));
            return (new Tensor(v), new Tensor(i));
        }

        public (Tensor values, Tensor indexes) min(long dim, bool keepdim = false)
        {
            NativeMethods.Check(NativeMethods.gid_t_max_dim(Handle, dim, keepdim ? 1 : 0, 1, out var v, out var i));
            return (new Tensor(v), new Tensor(i));
        }

        public Tensor argmax(long? dim = null, bool keepdim = false) =>
            W(NativeMethods.gid_t_argmax(Handle, dim ?? 0, dim.HasValue ? 1 : 0, keepdim ? 1 : 0, 0, out var r), r);

        public Tensor argmin(long? dim = null, bool keepdim = false) =>
            W(NativeMethods.gid_t_argmax(Handle, dim ?? 0, dim.HasValue ? 1 : 0, keepdim ? 1 : 0, 1, out var r), r);

        public Tensor cumsum(long dim) => W(NativeMethods.gid_t_cumsum(Handle, dim, out var r), r);

        // shape
        public Tensor reshape(params long[] shape)
        {
            fixed (long* s = shape) return W(NativeMethods.gid_t_reshape(Handle, s, shape.Length, out var r), r);
        }

        public Tensor view(params long[] shape)
        {
            fixed (long* s = shape) return W(NativeMethods.gid_t_view(Handle, s, shape.Length, out var r), r);
        }

        public Tensor expand(params long[] shape)
        {
            fixed (long* s = shape) return W(NativeMethods.gid_t_expand(Handle, s, shape.Length, out var r), r);
        }

        public Tensor repeat(params long[] times)
        {
            fixed (long* s = times) return W(NativeMethods.gid_t_repeat(Handle, s, times.Length, out var r), r);
        }

        public Tensor permute(params long[] dims)
        {
            fixed (long* s = dims) return W(NativeMethods.gid_t_permute(Handle, s, dims.Length, out var r), r);
        }

        public Tensor flip(params long[] dims)
        {
            fixed (long* s = dims) return W(NativeMethods.gid_t_flip(Handle, s, dims.Length, out var r), r);
        }

        public Tensor roll(long[] shifts, long[] dims)
        {
            if (shifts.Length != dims.Length) throw new ArgumentException("roll needs one shift per dim", nameof(shifts));
            fixed (long* s = shifts)
            fixed (long* d = dims)
                return W(NativeMethods.gid_t_roll(Handle, s, d, dims.Length, out var r), r);
        }

        public Tensor transpose(long dim0, long dim1) => W(NativeMethods.gid_t_transpose(Handle, dim0, dim1, out var r), r);
        public Tensor unsqueeze(long dim) => W(NativeMethods.gid_t_unsqueeze(Handle, dim, out var r), r);
        public Tensor squeeze(long? dim = null) => W(NativeMethods.gid_t_squeeze(Handle, dim ?? 0, dim.HasValue ? 1 : 0, out var r), r);
        public Tensor flatten(long start_dim = 0, long end_dim = -1) => W(NativeMethods.gid_t_flatten(Handle, start_dim, end_dim, out var r), r);
        public Tensor narrow(long dim, long start, long length) => W(NativeMethods.gid_t_narrow(Handle, dim, start, length, out var r), r);

        /// <summary>x[..., start:end:step, ...] along <paramref name="dim"/>.</summary>
        public Tensor slice(long dim, long start, long end, long step = 1) => W(NativeMethods.gid_t_slice(Handle, dim, start, end, step, out var r), r);

        public Tensor select(long dim, long index) => W(NativeMethods.gid_t_select(Handle, dim, index, out var r), r);
        public Tensor index_select(long dim, Tensor index) => W(NativeMethods.gid_t_index_select(Handle, dim, index.Handle, out var r), r);
        public Tensor gather(long dim, Tensor index) => W(NativeMethods.gid_t_gather(Handle, dim, index.Handle, out var r), r);
        public Tensor scatter_add(long dim, Tensor index, Tensor src) => W(NativeMethods.gid_t_scatter_add(Handle, dim, index.Handle, src.Handle, out var r), r);
        public Tensor index_add(long dim, Tensor index, Tensor source, double alpha = 1) =>
            W(NativeMethods.gid_t_index_add(Handle, dim, index.Handle, source.Handle, alpha, out var r), r);

        /// <summary>x[index] with a boolean mask or an int64 index tensor.</summary>
        public Tensor index(Tensor index) => W(NativeMethods.gid_t_index(Handle, index.Handle, out var r), r);

        public Tensor masked_fill(Tensor mask, double value) => W(NativeMethods.gid_t_masked_fill(Handle, mask.Handle, value, out var r), r);

        public Tensor[] split(long[] sizes, long dim = 0)
        {
            var outs = new IntPtr[sizes.Length];
            int count;
            fixed (long* s = sizes)
            fixed (IntPtr* o = outs)
                NativeMethods.Check(NativeMethods.gid_t_split(Handle, s, sizes.Length, dim, o, outs.Length, out count));
            return Collect(outs, count);
        }

        public Tensor[] split(long size, long dim = 0)
        {
            var total = this.size((int)dim);
            var sizes = new List<long>();
            for (long at = 0; at < total; at += size) sizes.Add(Math.Min(size, total - at));
            return split(sizes.ToArray(), dim);
        }

        public Tensor[] chunk(long chunks, long dim = 0)
        {
            var outs = new IntPtr[Math.Max(chunks, 1)];
            int count;
            fixed (IntPtr* o = outs)
                NativeMethods.Check(NativeMethods.gid_t_chunk(Handle, chunks, dim, o, outs.Length, out count));
            return Collect(outs, count);
        }

        public Tensor[] unbind(long dim = 0)
        {
            var outs = new IntPtr[Math.Max(size((int)dim), 1)];
            int count;
            fixed (IntPtr* o = outs)
                NativeMethods.Check(NativeMethods.gid_t_unbind(Handle, dim, o, outs.Length, out count));
            return Collect(outs, count);
        }

        private static Tensor[] Collect(IntPtr[] outs, int count)
        {
            var result = new Tensor[count];
            for (var i = 0; i < count; i++) result[i] = new Tensor(outs[i]);
            return result;
        }

        public Tensor softmax(long dim) => W(NativeMethods.gid_t_softmax(Handle, dim, 0, out var r), r);
        public Tensor log_softmax(long dim) => W(NativeMethods.gid_t_softmax(Handle, dim, 1, out var r), r);
    }

    public static Tensor where(Tensor condition, Tensor input, Tensor other) =>
        Tensor.Wrap(NativeMethods.gid_t_where(condition.Handle, input.Handle, other.Handle, out var r), r);

    public static Tensor clamp(Tensor input, double? min = null, double? max = null) => input.clamp(min, max);

    public static Tensor baddbmm(Tensor input, Tensor batch1, Tensor batch2, double beta = 1, double alpha = 1) =>
        Tensor.Wrap(NativeMethods.gid_t_baddbmm(input.Handle, batch1.Handle, batch2.Handle, beta, alpha, out var r), r);

    public static Tensor einsum(string equation, params Tensor[] operands)
    {
        using var list = new HandleList(operands);
        fixed (IntPtr* p = list.Pointers)
            return Tensor.Wrap(NativeMethods.gid_t_einsum(equation, p, operands.Length, out var r), r);
    }

    public static Tensor cat(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        using var list = new HandleList(tensors);
        fixed (IntPtr* p = list.Pointers)
            return Tensor.Wrap(NativeMethods.gid_t_cat(p, tensors.Count, dim, out var r), r);
    }

    public static Tensor stack(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        using var list = new HandleList(tensors);
        fixed (IntPtr* p = list.Pointers)
            return Tensor.Wrap(NativeMethods.gid_t_stack(p, tensors.Count, dim, out var r), r);
    }

    public static Tensor softmax(Tensor input, long dim) => input.softmax(dim);

    public static Tensor log_softmax(Tensor input, long dim) => input.log_softmax(dim);

    /// <summary>torch.fft: complex FFTs along one dim (n: signal length, default the input's; norm: backward/forward/ortho).</summary>
    public static class fft
    {
        private static Tensor Run(Tensor input, int kind, long? n, long dim, string? norm) =>
            Tensor.Wrap(NativeMethods.gid_t_fft(input.Handle, kind, n ?? -1, dim, norm, out var r), r);

        public static Tensor fft_(Tensor input, long? n = null, long dim = -1, string? norm = null) => Run(input, 0, n, dim, norm);
        public static Tensor ifft(Tensor input, long? n = null, long dim = -1, string? norm = null) => Run(input, 1, n, dim, norm);
        public static Tensor rfft(Tensor input, long? n = null, long dim = -1, string? norm = null) => Run(input, 2, n, dim, norm);
        public static Tensor irfft(Tensor input, long? n = null, long dim = -1, string? norm = null) => Run(input, 3, n, dim, norm);
    }
}
#pragma warning restore IDE1006, CS8981
