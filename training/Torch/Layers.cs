namespace GidCluster.Torch;

#pragma warning disable IDE1006, CS8981 // torch's spellings
public static partial class torch
{
    public static partial class nn
    {
        /// <summary>PyTorch's default init of weights and biases: uniform(±1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)).</summary>
        internal static Parameter UniformParameter(long[] shape, long fanIn)
        {
            var bound = fanIn > 0 ? 1.0 / Math.Sqrt(fanIn) : 0;
            using var t = empty(shape);
            using (no_grad()) t.uniform_(-bound, bound);
            return new Parameter(t);
        }

        internal static Parameter FilledParameter(long[] shape, double value)
        {
            using var t = full(shape, value);
            return new Parameter(t);
        }

        /// <summary>y = x Wᵀ + b; [*, in] → [*, out].</summary>
        public sealed class Linear : Module<Tensor, Tensor>
        {
            public readonly Parameter weight;
            public readonly Parameter? bias;

            public Linear(long in_features, long out_features, bool hasBias = true) : base(nameof(Linear))
            {
                weight = UniformParameter([out_features, in_features], in_features);
                if (hasBias) bias = UniformParameter([out_features], in_features);
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) => functional.linear(input, weight, bias);
        }

        /// <summary>2-D convolution; [B, Cin, H, W] → [B, Cout, H', W'].</summary>
        public sealed class Conv2d : Module<Tensor, Tensor>
        {
            public readonly Parameter weight;
            public readonly Parameter? bias;
            private readonly long _stride, _padding, _dilation, _groups;

            public Conv2d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0, long dilation = 1, long groups = 1, bool hasBias = true)
                : base(nameof(Conv2d))
            {
                if (in_channels % groups != 0 || out_channels % groups != 0)
                    throw new ArgumentException($"Conv2d: channels ({in_channels}, {out_channels}) must be divisible by groups {groups}");
                (_stride, _padding, _dilation, _groups) = (stride, padding, dilation, groups);
                var fanIn = in_channels / groups * kernel_size * kernel_size;
                weight = UniformParameter([out_channels, in_channels / groups, kernel_size, kernel_size], fanIn);
                if (hasBias) bias = UniformParameter([out_channels], fanIn);
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) => functional.conv2d(input, weight, bias, _stride, _padding, _dilation, _groups);
        }

        /// <summary>Transposed 2-D convolution; [B, Cin, H, W] → [B, Cout, H', W'].</summary>
        public sealed class ConvTranspose2d : Module<Tensor, Tensor>
        {
            public readonly Parameter weight;
            public readonly Parameter? bias;
            private readonly long _stride, _padding, _outputPadding, _groups, _dilation;

            public ConvTranspose2d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0, long output_padding = 0,
                long groups = 1, bool hasBias = true, long dilation = 1) : base(nameof(ConvTranspose2d))
            {
                (_stride, _padding, _outputPadding, _groups, _dilation) = (stride, padding, output_padding, groups, dilation);
                // PyTorch computes fan_in from weight dim 1 (out/groups) for transposed convolutions.
                var fanIn = out_channels / groups * kernel_size * kernel_size;
                weight = UniformParameter([in_channels, out_channels / groups, kernel_size, kernel_size], fanIn);
                if (hasBias) bias = UniformParameter([out_channels], fanIn);
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) =>
                functional.conv_transpose2d(input, weight, bias, _stride, _padding, _outputPadding, _groups, _dilation);
        }

        /// <summary>GroupNorm over [B, C, *]; affine weight (ones) and bias (zeros) per channel.</summary>
        public sealed class GroupNorm : Module<Tensor, Tensor>
        {
            public readonly Parameter? weight;
            public readonly Parameter? bias;
            private readonly long _groups;
            private readonly double _eps;

            public GroupNorm(long num_groups, long num_channels, double eps = 1e-5, bool affine = true) : base(nameof(GroupNorm))
            {
                if (num_channels % num_groups != 0)
                    throw new ArgumentException($"GroupNorm: {num_channels} channels are not divisible into {num_groups} groups");
                (_groups, _eps) = (num_groups, eps);
                if (affine)
                {
                    weight = FilledParameter([num_channels], 1);
                    bias = FilledParameter([num_channels], 0);
                }
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) => functional.group_norm(input, _groups, weight, bias, _eps);
        }

        /// <summary>LayerNorm over the trailing <c>normalized_shape</c> dims.</summary>
        public sealed class LayerNorm : Module<Tensor, Tensor>
        {
            public readonly Parameter? weight;
            public readonly Parameter? bias;
            private readonly long[] _shape;
            private readonly double _eps;

            public LayerNorm(long[] normalized_shape, double eps = 1e-5, bool elementwise_affine = true) : base(nameof(LayerNorm))
            {
                (_shape, _eps) = (normalized_shape, eps);
                if (elementwise_affine)
                {
                    weight = FilledParameter(normalized_shape, 1);
                    bias = FilledParameter(normalized_shape, 0);
                }
                RegisterComponents();
            }

            public LayerNorm(long normalized_shape, double eps = 1e-5) : this([normalized_shape], eps) { }

            public override Tensor forward(Tensor input) => functional.layer_norm(input, _shape, weight, bias, _eps);
        }

        /// <summary>Zeroes elements with probability p while training (scaled by 1/(1-p)); identity in eval.</summary>
        public sealed class Dropout(double p = 0.5) : Module<Tensor, Tensor>(nameof(Dropout))
        {
            public override Tensor forward(Tensor input) => functional.dropout(input, p, training);
        }

        /// <summary>Lookup table; int64 indices [*] → [*, dim]; weight ~ N(0, 1).</summary>
        public sealed class Embedding : Module<Tensor, Tensor>
        {
            public readonly Parameter weight;

            public Embedding(long num_embeddings, long embedding_dim) : base(nameof(Embedding))
            {
                using var w = empty([num_embeddings, embedding_dim]);
                using (no_grad()) w.normal_();
                weight = new Parameter(w);
                RegisterComponents();
            }

            public override Tensor forward(Tensor input) => functional.embedding(input, weight);
        }

        public sealed class Identity() : Module<Tensor, Tensor>(nameof(Identity))
        {
            public override Tensor forward(Tensor input) => input.alias();
        }

        public sealed class SiLU() : Module<Tensor, Tensor>(nameof(SiLU))
        {
            public override Tensor forward(Tensor input) => input.silu();
        }

        public sealed class GELU() : Module<Tensor, Tensor>(nameof(GELU))
        {
            public override Tensor forward(Tensor input) => input.gelu();
        }

        /// <summary>Nearest or bilinear upsampling of [B, C, H, W] by a scale factor.</summary>
        public sealed class Upsample(double scale_factor, string mode = "nearest") : Module<Tensor, Tensor>(nameof(Upsample))
        {
            public override Tensor forward(Tensor input) => functional.interpolate(input, scale_factor: scale_factor, mode: mode);
        }

        /// <summary>
        /// torch.nn.MultiheadAttention (parameter names in_proj_weight, in_proj_bias, out_proj.*): inputs
        /// [L, B, E] ([B, L, E] with batch_first); returns the attended values (no weights).
        /// </summary>
        public sealed class MultiheadAttention : Module
        {
            public readonly Parameter in_proj_weight;
            public readonly Parameter? in_proj_bias;
            public readonly Linear out_proj;
            private readonly long _embed, _heads;
            private readonly bool _batchFirst;
            private readonly double _dropout;

            public MultiheadAttention(long embed_dim, long num_heads, double dropout = 0, bool bias = true, bool batch_first = false) : base(nameof(MultiheadAttention))
            {
                if (embed_dim % num_heads != 0)
                    throw new ArgumentException($"MultiheadAttention: embed_dim {embed_dim} is not divisible by num_heads {num_heads}");
                (_embed, _heads, _batchFirst, _dropout) = (embed_dim, num_heads, batch_first, dropout);
                // xavier_uniform over [3E, E], as PyTorch's _reset_parameters
                var bound = Math.Sqrt(6.0 / (embed_dim + 3 * embed_dim));
                using (var w = empty([3 * embed_dim, embed_dim]))
                {
                    using (no_grad()) w.uniform_(-bound, bound);
                    in_proj_weight = new Parameter(w);
                }
                if (bias) in_proj_bias = FilledParameter([3 * embed_dim], 0);
                out_proj = new Linear(embed_dim, embed_dim, bias);
                if (bias) using (no_grad()) out_proj.bias!.zero_();
                RegisterComponents();
            }

            public Tensor forward(Tensor query, Tensor key, Tensor value)
            {
                using var scope = NewDisposeScope();
                if (_batchFirst)
                {
                    query = query.transpose(0, 1);
                    key = key.transpose(0, 1);
                    value = value.transpose(0, 1);
                }
                long L = query.size(0), B = query.size(1), S = key.size(0), d = _embed / _heads;
                var w = in_proj_weight.chunk(3);
                var b = in_proj_bias?.chunk(3);
                // [L, B, E] → [B*heads, L, d]
                Tensor Heads(Tensor x, int i, long len) =>
                    functional.linear(x, w[i], b?[i]).reshape(len, B * _heads, d).transpose(0, 1);
                var q = Heads(query, 0, L) / Math.Sqrt(d);
                var k = Heads(key, 1, S);
                var v = Heads(value, 2, S);
                var attn = q.bmm(k.transpose(-2, -1)).softmax(-1);
                if (_dropout > 0) attn = functional.dropout(attn, _dropout, training);
                var o = attn.bmm(v).transpose(0, 1).contiguous().view(L * B, _embed);
                var result = out_proj.forward(o).view(L, B, _embed);
                if (_batchFirst) result = result.transpose(0, 1);
                return result.MoveToOuterDisposeScope();
            }
        }

        /// <summary>Runs its modules in order; keys "0", "1", ...</summary>
        public sealed class Sequential : Module<Tensor, Tensor>
        {
            private readonly List<Module<Tensor, Tensor>> _layers = [];

            public Sequential(params Module<Tensor, Tensor>[] layers) : base(nameof(Sequential))
            {
                foreach (var l in layers) append(l);
            }

            public Sequential append(Module<Tensor, Tensor> layer)
            {
                register_module(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
                _layers.Add(layer);
                return this;
            }

            public int Count => _layers.Count;

            public override Tensor forward(Tensor input)
            {
                if (_layers.Count == 0) return input.alias();
                using var scope = NewDisposeScope();
                var x = input;
                foreach (var l in _layers) x = l.forward(x);
                return x.MoveToOuterDisposeScope();
            }
        }

        /// <summary>Holds modules under keys "0", "1", ... (no forward).</summary>
        public sealed class ModuleList<T> : Module, IReadOnlyList<T> where T : Module
        {
            private readonly List<T> _items = [];

            public ModuleList(params T[] modules) : base(nameof(ModuleList<T>))
            {
                foreach (var m in modules) append(m);
            }

            public ModuleList<T> append(T module)
            {
                register_module(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
                _items.Add(module);
                return this;
            }

            public T this[int index] => _items[index];

            public int Count => _items.Count;

            public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();

            System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
        }
    }
}
#pragma warning restore IDE1006, CS8981
