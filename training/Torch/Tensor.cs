using System.Runtime.InteropServices;

namespace GidCluster.Torch;

#pragma warning disable IDE1006, CS8981 // torch's spellings
public static unsafe partial class torch
{
    /// <summary>
    /// A tensor: a reference to a native at::Tensor. Dispose it (or let a <see cref="DisposeScope"/>
    /// do it); the finalizer is only a safety net. Ops return fresh tensors and never dispose inputs.
    /// </summary>
    public partial class Tensor : IDisposable
    {
        private readonly TensorHandle _handle;
        internal DisposeScope? Scope;

        internal Tensor(IntPtr handle)
        {
            _handle = new TensorHandle(handle);
            Scope = DisposeScope.Current;
            Scope?.Add(this);
        }

        /// <summary>The native handle; throws when this tensor was disposed.</summary>
        internal TensorHandle Handle
        {
            get
            {
                if (_handle.IsClosed)
                    throw new ObjectDisposedException(nameof(Tensor), "this tensor was disposed (explicitly or by its dispose scope)");
                return _handle;
            }
        }

        public bool IsDisposed => _handle.IsClosed;

        /// <summary>Checks the status of the call that produced <paramref name="result"/>, then wraps it.</summary>
        internal static Tensor Wrap(int status, IntPtr result)
        {
            NativeMethods.Check(status);
            return new Tensor(result);
        }

        public void Dispose()
        {
            Scope?.Remove(this);
            Scope = null;
            _handle.Dispose();
        }

        // ---- metadata ------------------------------------------------------------------------

        public long[] shape
        {
            get
            {
                NativeMethods.Check(NativeMethods.gid_t_ndim(Handle, out var n));
                var s = new long[n];
                fixed (long* p = s)
                    NativeMethods.Check(NativeMethods.gid_t_shape(Handle, p, n));
                return s;
            }
        }

        public long size(int dim)
        {
            var s = shape;
            return s[dim < 0 ? dim + s.Length : dim];
        }

        public int dim()
        {
            NativeMethods.Check(NativeMethods.gid_t_ndim(Handle, out var n));
            return n;
        }

        public long numel() => shape.Aggregate(1L, (a, b) => a * b);

        private (ScalarType dtype, Device device, bool requiresGrad) Info()
        {
            NativeMethods.Check(NativeMethods.gid_t_info(Handle, out var dt, out var devType, out var devIndex, out var rg));
            return ((ScalarType)dt, new Device((DeviceType)devType, devIndex), rg != 0);
        }

        public ScalarType dtype => Info().dtype;

        public Device device => Info().device;

        public bool requires_grad
        {
            get => Info().requiresGrad;
            set => NativeMethods.Check(NativeMethods.gid_t_set_requires_grad(Handle, value ? 1 : 0));
        }

        public Tensor requires_grad_(bool on = true)
        {
            requires_grad = on;
            return this;
        }

        /// <summary>The accumulated gradient (a new reference each call), or null.</summary>
        public Tensor? grad
        {
            get
            {
                NativeMethods.Check(NativeMethods.gid_t_grad(Handle, out var g));
                return g == IntPtr.Zero ? null : new Tensor(g);
            }
            set => NativeMethods.Check(NativeMethods.gid_t_set_grad(Handle, value?.Handle ?? TensorHandle.Null));
        }

        public void backward(Tensor? gradient = null, bool retain_graph = false) =>
            NativeMethods.Check(NativeMethods.gid_t_backward(Handle, gradient?.Handle ?? TensorHandle.Null, retain_graph ? 1 : 0));

        public override string ToString() => $"tensor(shape=[{string.Join(", ", shape)}], dtype={dtype}, device={device})";

        // ---- read-back -----------------------------------------------------------------------

        public double item()
        {
            NativeMethods.Check(NativeMethods.gid_t_item(Handle, out var v));
            return v;
        }

        public T item<T>() where T : unmanaged => ToArray<T>() is { Length: 1 } a ? a[0]
            : throw new InvalidOperationException("item() needs a tensor with exactly one element");

        /// <summary>Copies the elements (row-major, moved to CPU) into <paramref name="destination"/>; the element type must match the dtype.</summary>
        public void CopyTo<T>(Span<T> destination) where T : unmanaged
        {
            var want = ScalarTypeOf<T>();
            var have = dtype;
            if (want != have)
                throw new ArgumentException($"tensor has dtype {have} but the destination holds {typeof(T).Name} ({want})", nameof(destination));
            fixed (T* p = destination)
                NativeMethods.Check(NativeMethods.gid_t_copy_to(Handle, p, (long)destination.Length * sizeof(T)));
        }

        public T[] ToArray<T>() where T : unmanaged
        {
            var a = new T[numel()];
            CopyTo<T>(a);
            return a;
        }

        // ---- conversion ----------------------------------------------------------------------

        public Tensor to(ScalarType type, bool copy = false) => Wrap(NativeMethods.gid_t_to(Handle, (int)type, -1, -1, copy ? 1 : 0, out var r), r);

        public Tensor to(Device device, ScalarType? type = null, bool copy = false) =>
            Wrap(NativeMethods.gid_t_to(Handle, type is { } t ? (int)t : -1, (int)device.type, device.index, copy ? 1 : 0, out var r), r);

        public Tensor to(string device) => to(Device.Parse(device));

        public Tensor cpu() => to(CPU);

        public Tensor cuda(int index = 0) => to(CUDA(index));

        public Tensor detach() => Wrap(NativeMethods.gid_t_detach(Handle, out var r), r);

        public Tensor clone() => Wrap(NativeMethods.gid_t_clone(Handle, out var r), r);

        public Tensor contiguous() => Wrap(NativeMethods.gid_t_contiguous(Handle, out var r), r);

        /// <summary>A second reference to the same tensor (same storage and autograd identity), with its own lifetime.</summary>
        public Tensor alias() => Wrap(NativeMethods.gid_t_alias(Handle, out var r), r);

        // ---- dispose scopes ------------------------------------------------------------------

        /// <summary>Moves this tensor to the scope enclosing its current one (or out of scopes at the outermost).</summary>
        public Tensor MoveToOuterDisposeScope()
        {
            var outer = Scope?.Outer;
            Scope?.Remove(this);
            Scope = outer;
            outer?.Add(this);
            return this;
        }

        /// <summary>Takes this tensor out of every scope: the caller disposes it.</summary>
        public Tensor DetachFromDisposeScope()
        {
            Scope?.Remove(this);
            Scope = null;
            return this;
        }

        // ---- in place (no autograd history wanted: use under no_grad) -------------------------

        public Tensor copy_(Tensor src)
        {
            NativeMethods.Check(NativeMethods.gid_t_copy_(Handle, src.Handle));
            return this;
        }

        public Tensor fill_(double value)
        {
            NativeMethods.Check(NativeMethods.gid_t_fill_(Handle, value));
            return this;
        }

        public Tensor zero_()
        {
            NativeMethods.Check(NativeMethods.gid_t_zero_(Handle));
            return this;
        }

        public Tensor mul_(double value)
        {
            NativeMethods.Check(NativeMethods.gid_t_mul_s_(Handle, value));
            return this;
        }

        public Tensor add_(Tensor other, double alpha = 1)
        {
            NativeMethods.Check(NativeMethods.gid_t_add_(Handle, other.Handle, alpha));
            return this;
        }

        public Tensor lerp_(Tensor end, double weight)
        {
            NativeMethods.Check(NativeMethods.gid_t_lerp_(Handle, end.Handle, weight));
            return this;
        }

        public Tensor uniform_(double from = 0, double to = 1, Generator? generator = null)
        {
            NativeMethods.Check(NativeMethods.gid_t_uniform_(Handle, from, to, generator?.Handle ?? GeneratorHandle.Null));
            return this;
        }

        public Tensor normal_(double mean = 0, double std = 1, Generator? generator = null)
        {
            NativeMethods.Check(NativeMethods.gid_t_normal_(Handle, mean, std, generator?.Handle ?? GeneratorHandle.Null));
            return this;
        }

        // ---- operators -----------------------------------------------------------------------

        public static Tensor operator +(Tensor a, Tensor b) => a.add(b);
        public static Tensor operator -(Tensor a, Tensor b) => a.sub(b);
        public static Tensor operator *(Tensor a, Tensor b) => a.mul(b);
        public static Tensor operator /(Tensor a, Tensor b) => a.div(b);
        public static Tensor operator +(Tensor a, double b) => a.add(b);
        public static Tensor operator -(Tensor a, double b) => a.sub(b);
        public static Tensor operator *(Tensor a, double b) => a.mul(b);
        public static Tensor operator /(Tensor a, double b) => a.div(b);
        public static Tensor operator +(double a, Tensor b) => b.add(a);
        public static Tensor operator -(double a, Tensor b) => Wrap(NativeMethods.gid_t_rsub_s(b.Handle, a, out var r), r);
        public static Tensor operator *(double a, Tensor b) => b.mul(a);
        public static Tensor operator /(double a, Tensor b) => Wrap(NativeMethods.gid_t_rdiv_s(b.Handle, a, out var r), r);
        public static Tensor operator -(Tensor a) => a.neg();
    }

    // ---- creation ----------------------------------------------------------------------------

    /// <summary>A new tensor holding a copy of <paramref name="data"/> with the given shape (dtype from the element type).</summary>
    public static Tensor tensor<T>(ReadOnlySpan<T> data, ReadOnlySpan<long> shape, bool requires_grad = false) where T : unmanaged
    {
        var type = ScalarTypeOf<T>();
        fixed (T* d = data)
        fixed (long* s = shape)
        {
            var t = Tensor.Wrap(NativeMethods.gid_t_from_data(d, (long)data.Length * sizeof(T), s, shape.Length, (int)type, out var r), r);
            if (requires_grad) t.requires_grad = true;
            return t;
        }
    }

    /// <summary>A 1-D tensor of <paramref name="data"/>.</summary>
    public static Tensor tensor<T>(T[] data) where T : unmanaged => tensor<T>(data, [data.Length]);

    /// <summary>A 0-dim tensor.</summary>
    public static Tensor scalar_tensor(double value, ScalarType dtype = ScalarType.Float32) => full([], value, dtype);

    public static Tensor full(long[] size, double value, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false)
    {
        var dev = device ?? CPU;
        fixed (long* s = size)
            return Grad(Tensor.Wrap(NativeMethods.gid_t_full(s, size.Length, value, (int)dtype, (int)dev.type, dev.index, out var r), r), requires_grad);
    }

    public static Tensor zeros(long[] size, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        full(size, 0, dtype, device, requires_grad);

    public static Tensor ones(long[] size, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requires_grad = false) =>
        full(size, 1, dtype, device, requires_grad);

    public static Tensor empty(long[] size, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var dev = device ?? CPU;
        fixed (long* s = size)
            return Tensor.Wrap(NativeMethods.gid_t_empty(s, size.Length, (int)dtype, (int)dev.type, dev.index, out var r), r);
    }

    public static Tensor zeros_like(Tensor t) => zeros(t.shape, t.dtype, t.device);

    public static Tensor ones_like(Tensor t) => ones(t.shape, t.dtype, t.device);

    public static Tensor arange(double start, double end, double step = 1, ScalarType dtype = ScalarType.Int64, Device? device = null)
    {
        var dev = device ?? CPU;
        return Tensor.Wrap(NativeMethods.gid_t_arange(start, end, step, (int)dtype, (int)dev.type, dev.index, out var r), r);
    }

    public static Tensor arange(long end, ScalarType dtype = ScalarType.Int64) => arange(0, end, 1, dtype);

    public static Tensor linspace(double start, double end, long steps, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var dev = device ?? CPU;
        return Tensor.Wrap(NativeMethods.gid_t_linspace(start, end, steps, (int)dtype, (int)dev.type, dev.index, out var r), r);
    }

    private static Tensor Random(int kind, long[] size, long low, long high, Generator? generator, ScalarType dtype, Device? device)
    {
        var dev = device ?? CPU;
        fixed (long* s = size)
            return Tensor.Wrap(NativeMethods.gid_t_random(kind, s, size.Length, low, high, generator?.Handle ?? GeneratorHandle.Null,
                (int)dtype, (int)dev.type, dev.index, out var r), r);
    }

    public static Tensor rand(long[] size, Generator? generator = null, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Random(0, size, 0, 0, generator, dtype, device);

    public static Tensor randn(long[] size, Generator? generator = null, ScalarType dtype = ScalarType.Float32, Device? device = null) =>
        Random(1, size, 0, 0, generator, dtype, device);

    public static Tensor randint(long low, long high, long[] size, Generator? generator = null, ScalarType dtype = ScalarType.Int64, Device? device = null) =>
        Random(2, size, low, high, generator, dtype, device);

    public static Tensor randperm(long n, Generator? generator = null, ScalarType dtype = ScalarType.Int64, Device? device = null)
    {
        var dev = device ?? CPU;
        return Tensor.Wrap(NativeMethods.gid_t_randperm(n, generator?.Handle ?? GeneratorHandle.Null, (int)dtype, (int)dev.type, dev.index, out var r), r);
    }

    private static Tensor Grad(Tensor t, bool requiresGrad)
    {
        if (requiresGrad) t.requires_grad = true;
        return t;
    }

    // ---- autograd mode -----------------------------------------------------------------------

    /// <summary>Disables gradient recording on this thread until disposed (torch.no_grad()).</summary>
    public static IDisposable no_grad() => new GradMode(false);

    public static IDisposable enable_grad() => new GradMode(true);

    public static bool is_grad_enabled()
    {
        NativeMethods.Check(NativeMethods.gid_grad_mode(out var on));
        return on != 0;
    }

    private sealed class GradMode : IDisposable
    {
        private readonly bool _previous;
        private bool _disposed;

        internal GradMode(bool enabled)
        {
            _previous = is_grad_enabled();
            NativeMethods.Check(NativeMethods.gid_set_grad_mode(enabled ? 1 : 0));
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            NativeMethods.Check(NativeMethods.gid_set_grad_mode(_previous ? 1 : 0));
        }
    }

    // ---- dispose scopes ----------------------------------------------------------------------

    /// <summary>Opens a scope on this thread: tensors created until it is disposed are disposed with it.</summary>
    public static DisposeScope NewDisposeScope() => new();

    /// <summary>Like TorchSharp's DisposeScope: collects the tensors created on this thread while it is the innermost one.</summary>
    public sealed class DisposeScope : IDisposable
    {
        [ThreadStatic] private static DisposeScope? _current;
        private readonly HashSet<Tensor> _tensors = new(ReferenceEqualityComparer.Instance);
        private bool _disposed;

        internal DisposeScope()
        {
            Outer = _current;
            _current = this;
        }

        internal static DisposeScope? Current => _current;

        internal DisposeScope? Outer { get; }

        /// <summary>How many tensors this scope will dispose.</summary>
        public int Count => _tensors.Count;

        internal void Add(Tensor t) => _tensors.Add(t);

        internal void Remove(Tensor t) => _tensors.Remove(t);

        /// <summary>Moves <paramref name="t"/> to the enclosing scope and returns it.</summary>
        public Tensor MoveToOuter(Tensor t) => t.Scope == this ? t.MoveToOuterDisposeScope() : t;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var t in _tensors)
            {
                t.Scope = null;
                t.Dispose();
            }
            _tensors.Clear();
            // Scopes nest like `using` blocks; restoring the outer one keeps the thread consistent.
            if (_current == this) _current = Outer;
        }
    }
}
#pragma warning restore IDE1006, CS8981
