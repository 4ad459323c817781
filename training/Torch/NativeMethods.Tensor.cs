using System.Runtime.InteropServices;

namespace GidCluster.Torch;

// P/Invoke declarations of native/torch/tensor.cpp. Input tensors are passed as SafeHandles so that
// the marshaller keeps them alive (and refuses closed ones) for the duration of the call.
internal static unsafe partial class NativeMethods
{
    [DllImport(Lib)] internal static extern void gid_t_free(IntPtr t);
    [DllImport(Lib)] internal static extern int gid_t_from_data(void* data, long nbytes, long* shape, int ndim, int dtype, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_copy_to(TensorHandle t, void* data, long nbytes);
    [DllImport(Lib)] internal static extern int gid_t_ndim(TensorHandle t, out int n);
    [DllImport(Lib)] internal static extern int gid_t_shape(TensorHandle t, long* shape, int capacity);
    [DllImport(Lib)] internal static extern int gid_t_info(TensorHandle t, out int dtype, out int deviceType, out int deviceIndex, out int requiresGrad);
    [DllImport(Lib)] internal static extern int gid_t_item(TensorHandle t, out double v);
    [DllImport(Lib)] internal static extern int gid_t_set_requires_grad(TensorHandle t, int on);
    [DllImport(Lib)] internal static extern int gid_t_grad(TensorHandle t, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_set_grad(TensorHandle t, TensorHandle g);
    [DllImport(Lib)] internal static extern int gid_t_backward(TensorHandle t, TensorHandle g, int retain);
    [DllImport(Lib)] internal static extern int gid_grad_mode(out int enabled);
    [DllImport(Lib)] internal static extern int gid_set_grad_mode(int enabled);
    [DllImport(Lib)] internal static extern int gid_manual_seed(ulong seed);
    [DllImport(Lib)] internal static extern int gid_generator_new(ulong seed, out IntPtr g);
    [DllImport(Lib)] internal static extern void gid_generator_free(IntPtr g);

    [DllImport(Lib)] internal static extern int gid_t_full(long* shape, int ndim, double value, int dtype, int dt, int di, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_empty(long* shape, int ndim, int dtype, int dt, int di, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_arange(double start, double end, double step, int dtype, int dt, int di, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_linspace(double start, double end, long steps, int dtype, int dt, int di, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_random(int kind, long* shape, int ndim, long low, long high, GeneratorHandle g, int dtype, int dt, int di, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_randperm(long n, GeneratorHandle g, int dtype, int dt, int di, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_uniform_(TensorHandle t, double a, double b, GeneratorHandle g);
    [DllImport(Lib)] internal static extern int gid_t_normal_(TensorHandle t, double mean, double std, GeneratorHandle g);

    [DllImport(Lib)] internal static extern int gid_t_to(TensorHandle t, int dtype, int dt, int di, int copy, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_detach(TensorHandle t, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_clone(TensorHandle t, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_contiguous(TensorHandle t, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_alias(TensorHandle t, out IntPtr r);

    [DllImport(Lib)] internal static extern int gid_t_set_data(TensorHandle dst, TensorHandle src);
    [DllImport(Lib)] internal static extern int gid_t_copy_(TensorHandle dst, TensorHandle src);
    [DllImport(Lib)] internal static extern int gid_t_fill_(TensorHandle t, double v);
    [DllImport(Lib)] internal static extern int gid_t_zero_(TensorHandle t);
    [DllImport(Lib)] internal static extern int gid_t_mul_s_(TensorHandle t, double v);
    [DllImport(Lib)] internal static extern int gid_t_add_(TensorHandle t, TensorHandle other, double alpha);
    [DllImport(Lib)] internal static extern int gid_t_lerp_(TensorHandle t, TensorHandle end, double weight);

    [DllImport(Lib)] internal static extern int gid_t_rsub_s(TensorHandle a, double s, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_rdiv_s(TensorHandle a, double s, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_gelu(TensorHandle a, int tanh, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_where(TensorHandle c, TensorHandle a, TensorHandle b, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_clamp(TensorHandle a, int hasMin, double min, int hasMax, double max, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_lerp(TensorHandle a, TensorHandle b, double w, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_baddbmm(TensorHandle self, TensorHandle b1, TensorHandle b2, double beta, double alpha, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_einsum([MarshalAs(UnmanagedType.LPUTF8Str)] string eq, IntPtr* ts, int n, out IntPtr r);

    [DllImport(Lib)] internal static extern int gid_t_reduce(TensorHandle a, int kind, long* dims, int nd, int keepdim, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_var(TensorHandle a, int std, long* dims, int nd, long correction, int keepdim, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_norm(TensorHandle a, double p, long* dims, int nd, int keepdim, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_max_dim(TensorHandle a, long dim, int keepdim, int isMin, out IntPtr values, out IntPtr indices);
    [DllImport(Lib)] internal static extern int gid_t_argmax(TensorHandle a, long dim, int hasDim, int keepdim, int isMin, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_cumsum(TensorHandle a, long dim, out IntPtr r);

    [DllImport(Lib)] internal static extern int gid_t_reshape(TensorHandle a, long* s, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_view(TensorHandle a, long* s, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_expand(TensorHandle a, long* s, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_repeat(TensorHandle a, long* s, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_permute(TensorHandle a, long* s, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_flip(TensorHandle a, long* s, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_roll(TensorHandle a, long* shifts, long* dims, int n, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_as_strided(TensorHandle a, long* size, long* stride, int n, long offset, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_transpose(TensorHandle a, long d0, long d1, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_unsqueeze(TensorHandle a, long d, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_squeeze(TensorHandle a, long d, int hasDim, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_flatten(TensorHandle a, long start, long end, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_narrow(TensorHandle a, long dim, long start, long length, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_slice(TensorHandle a, long dim, long start, long end, long step, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_select(TensorHandle a, long dim, long index, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_index_select(TensorHandle a, long dim, TensorHandle index, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_gather(TensorHandle a, long dim, TensorHandle index, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_scatter_add(TensorHandle a, long dim, TensorHandle index, TensorHandle src, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_index_add(TensorHandle a, long dim, TensorHandle index, TensorHandle src, double alpha, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_index(TensorHandle a, TensorHandle index, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_masked_fill(TensorHandle a, TensorHandle mask, double v, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_cat(IntPtr* ts, int n, long dim, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_stack(IntPtr* ts, int n, long dim, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_split(TensorHandle a, long* sizes, int n, long dim, IntPtr* outs, int capacity, out int count);
    [DllImport(Lib)] internal static extern int gid_t_chunk(TensorHandle a, long chunks, long dim, IntPtr* outs, int capacity, out int count);
    [DllImport(Lib)] internal static extern int gid_t_unbind(TensorHandle a, long dim, IntPtr* outs, int capacity, out int count);

    [DllImport(Lib)] internal static extern int gid_t_linear(TensorHandle x, TensorHandle w, TensorHandle b, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_conv2d(TensorHandle x, TensorHandle w, TensorHandle b, long* stride, long* padding, long* dilation, long groups, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_conv_transpose2d(TensorHandle x, TensorHandle w, TensorHandle b, long* stride, long* padding, long* outputPadding, long* dilation, long groups, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_group_norm(TensorHandle x, long groups, TensorHandle w, TensorHandle b, double eps, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_layer_norm(TensorHandle x, long* shape, int n, TensorHandle w, TensorHandle b, double eps, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_softmax(TensorHandle x, long dim, int log, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_dropout(TensorHandle x, double p, int train, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_embedding(TensorHandle w, TensorHandle idx, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_interpolate(TensorHandle x, int mode, long oh, long ow, double sh, double sw, int alignCorners, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_avg_pool2d(TensorHandle x, long* k, long* s, long* p, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_max_pool2d(TensorHandle x, long* k, long* s, long* p, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_pad(TensorHandle x, long* p, int n, [MarshalAs(UnmanagedType.LPUTF8Str)] string mode, double value, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_mse_loss(TensorHandle a, TensorHandle b, int reduction, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_l1_loss(TensorHandle a, TensorHandle b, int reduction, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_cross_entropy(TensorHandle a, TensorHandle b, int reduction, out IntPtr r);
    [DllImport(Lib)] internal static extern int gid_t_fft(TensorHandle x, int kind, long n, long dim, [MarshalAs(UnmanagedType.LPUTF8Str)] string? norm, out IntPtr r);

    [DllImport(Lib)] internal static extern int gid_optim_adamw_step(IntPtr* parameters, IntPtr* expAvg, IntPtr* expAvgSq, double* steps, int n, double lr, double beta1, double beta2, double eps, double weightDecay);
    [DllImport(Lib)] internal static extern int gid_optim_clip_grad_norm(IntPtr* parameters, int n, double maxNorm, double p, out double total);
    [DllImport(Lib)] internal static extern int gid_optim_zero_grad(IntPtr* parameters, int n);
    [DllImport(Lib)] internal static extern int gid_optim_ema_update(IntPtr* ema, IntPtr* parameters, int n, double decay);
}
