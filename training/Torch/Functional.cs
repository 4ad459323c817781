namespace GidCluster.Torch;

#pragma warning disable IDE1006, CS8981 // torch's spellings
public static unsafe partial class torch
{
    public static partial class nn
    {
        /// <summary>torch.nn.functional.</summary>
        public static class functional
        {
            private static Tensor W(int status, IntPtr r) => Tensor.Wrap(status, r);

            private static TensorHandle H(Tensor? t) => t?.Handle ?? TensorHandle.Null;

            public static Tensor linear(Tensor input, Tensor weight, Tensor? bias = null) =>
                W(NativeMethods.gid_t_linear(input.Handle, weight.Handle, H(bias), out var r), r);

            public static Tensor conv2d(Tensor input, Tensor weight, Tensor? bias = null, long stride = 1, long padding = 0, long dilation = 1, long groups = 1) =>
                conv2d(input, weight, bias, [stride, stride], [padding, padding], [dilation, dilation], groups);

            public static Tensor conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, long[] padding, long[] dilation, long groups = 1)
            {
                fixed (long* s = Pair(stride, nameof(stride)))
                fixed (long* p = Pair(padding, nameof(padding)))
                fixed (long* d = Pair(dilation, nameof(dilation)))
                    return W(NativeMethods.gid_t_conv2d(input.Handle, weight.Handle, H(bias), s, p, d, groups, out var r), r);
            }

            public static Tensor conv_transpose2d(Tensor input, Tensor weight, Tensor? bias = null, long stride = 1, long padding = 0,
                long output_padding = 0, long groups = 1, long dilation = 1)
            {
                long[] s = [stride, stride], p = [padding, padding], op = [output_padding, output_padding], d = [dilation, dilation];
                fixed (long* sp = s)
                fixed (long* pp = p)
                fixed (long* opp = op)
                fixed (long* dp = d)
                    return W(NativeMethods.gid_t_conv_transpose2d(input.Handle, weight.Handle, H(bias), sp, pp, opp, dp, groups, out var r), r);
            }

            public static Tensor group_norm(Tensor input, long num_groups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5) =>
                W(NativeMethods.gid_t_group_norm(input.Handle, num_groups, H(weight), H(bias), eps, out var r), r);

            public static Tensor layer_norm(Tensor input, long[] normalized_shape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
            {
                fixed (long* s = normalized_shape)
                    return W(NativeMethods.gid_t_layer_norm(input.Handle, s, normalized_shape.Length, H(weight), H(bias), eps, out var r), r);
            }

            public static Tensor silu(Tensor input) => input.silu();
            public static Tensor gelu(Tensor input, bool tanh = false) => input.gelu(tanh);
            public static Tensor relu(Tensor input) => input.relu();
            public static Tensor softmax(Tensor input, long dim) => input.softmax(dim);
            public static Tensor log_softmax(Tensor input, long dim) => input.log_softmax(dim);

            public static Tensor dropout(Tensor input, double p = 0.5, bool training = true)
            {
                if (p is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1]");
                return W(NativeMethods.gid_t_dropout(input.Handle, p, training ? 1 : 0, out var r), r);
            }

            public static Tensor embedding(Tensor input, Tensor weight) => W(NativeMethods.gid_t_embedding(weight.Handle, input.Handle, out var r), r);

            /// <summary>2-D interpolation of [B, C, H, W]: mode "nearest" or "bilinear"; give size or scale_factor.</summary>
            public static Tensor interpolate(Tensor input, long[]? size = null, double? scale_factor = null, string mode = "nearest", bool align_corners = false)
            {
                var m = mode switch
                {
                    "nearest" => 0,
                    "bilinear" => 1,
                    _ => throw new ArgumentException($"interpolate mode '{mode}' is not supported (nearest, bilinear)", nameof(mode)),
                };
                if ((size == null) == (scale_factor == null))
                    throw new ArgumentException("interpolate needs exactly one of size and scale_factor");
                if (size != null && size.Length != 2) throw new ArgumentException("size must be [H, W]", nameof(size));
                var sf = scale_factor ?? 0;
                return W(NativeMethods.gid_t_interpolate(input.Handle, m, size?[0] ?? 0, size?[1] ?? 0, sf, sf, align_corners ? 1 : 0, out var r), r);
            }

            public static Tensor avg_pool2d(Tensor input, long kernel_size, long? stride = null, long padding = 0)
            {
                long[] k = [kernel_size, kernel_size], s = [stride ?? kernel_size, stride ?? kernel_size], p = [padding, padding];
                fixed (long* kp = k)
                fixed (long* sp = s)
                fixed (long* pp = p)
                    return W(NativeMethods.gid_t_avg_pool2d(input.Handle, kp, sp, pp, out var r), r);
            }

            public static Tensor max_pool2d(Tensor input, long kernel_size, long? stride = null, long padding = 0)
            {
                long[] k = [kernel_size, kernel_size], s = [stride ?? kernel_size, stride ?? kernel_size], p = [padding, padding];
                fixed (long* kp = k)
                fixed (long* sp = s)
                fixed (long* pp = p)
                    return W(NativeMethods.gid_t_max_pool2d(input.Handle, kp, sp, pp, out var r), r);
            }

            /// <summary>As F.pad: pad = (left, right, top, bottom, ...) from the last dim; mode constant/reflect/replicate/circular.</summary>
            public static Tensor pad(Tensor input, long[] pad, string mode = "constant", double value = 0)
            {
                fixed (long* p = pad)
                    return W(NativeMethods.gid_t_pad(input.Handle, p, pad.Length, mode, value, out var r), r);
            }

            private static int Reduction(string reduction) => reduction switch
            {
                "none" => 0,
                "mean" => 1,
                "sum" => 2,
                _ => throw new ArgumentException($"reduction '{reduction}' is not one of none, mean, sum", nameof(reduction)),
            };

            public static Tensor mse_loss(Tensor input, Tensor target, string reduction = "mean") =>
                W(NativeMethods.gid_t_mse_loss(input.Handle, target.Handle, Reduction(reduction), out var r), r);

            public static Tensor l1_loss(Tensor input, Tensor target, string reduction = "mean") =>
                W(NativeMethods.gid_t_l1_loss(input.Handle, target.Handle, Reduction(reduction), out var r), r);

            public static Tensor cross_entropy(Tensor input, Tensor target, string reduction = "mean") =>
                W(NativeMethods.gid_t_cross_entropy(input.Handle, target.Handle, Reduction(reduction), out var r), r);

            private static long[] Pair(long[] v, string name) => v.Length switch
            {
                1 => [v[0], v[0]],
                2 => v,
                _ => throw new ArgumentException($"{name} needs 1 or 2 values, got {v.Length}", name),
            };
        }
    }
}
#pragma warning restore IDE1006, CS8981
