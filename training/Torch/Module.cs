using System.Reflection;

namespace GidCluster.Torch;

#pragma warning disable IDE1006, CS8981 // torch's spellings
public static partial class torch
{
    public partial class Tensor
    {
        /// <summary>Replaces this tensor's data by <paramref name="source"/>'s, keeping its identity (autograd leaf, optimizer slot).</summary>
        public void set_data(Tensor source) => NativeMethods.Check(NativeMethods.gid_t_set_data(Handle, source.Handle));
    }

    public static partial class nn
    {
        /// <summary>A trainable tensor owned by a module: requires grad, lives outside dispose scopes.</summary>
        public sealed class Parameter : Tensor
        {
            /// <summary>Wraps a new reference to <paramref name="data"/> (detached from its graph); the caller keeps its own reference.</summary>
            public Parameter(Tensor data, bool requires_grad = true) : base(Detached(data))
            {
                DetachFromDisposeScope();
                this.requires_grad = requires_grad;
            }

            private static IntPtr Detached(Tensor data)
            {
                NativeMethods.Check(NativeMethods.gid_t_detach(data.Handle, out var r));
                return r;
            }
        }

        /// <summary>load_state_dict found keys that do not fit the module.</summary>
        public sealed class StateDictException(IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
            : Exception(Describe(missing, unexpected, mismatched))
        {
            public IReadOnlyList<string> MissingKeys { get; } = missing;
            public IReadOnlyList<string> UnexpectedKeys { get; } = unexpected;
            public IReadOnlyList<string> ShapeMismatches { get; } = mismatched;

            private static string Describe(IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
            {
                var parts = new List<string>();
                if (missing.Count > 0) parts.Add($"missing key(s): {string.Join(", ", missing)}");
                if (unexpected.Count > 0) parts.Add($"unexpected key(s): {string.Join(", ", unexpected)}");
                if (mismatched.Count > 0) parts.Add($"size mismatch: {string.Join("; ", mismatched)}");
                return "Error(s) in loading state_dict: " + string.Join("; ", parts);
            }
        }

        /// <summary>
        /// Base of every layer, as torch.nn.Module: ordered parameters, buffers and submodules (whose
        /// names are the state-dict keys), train/eval, to(device, dtype), state_dict/load_state_dict.
        /// Subclasses assign their fields, then call <see cref="RegisterComponents"/> (field names become keys).
        /// </summary>
        public abstract class Module : IDisposable
        {
            private readonly List<KeyValuePair<string, Parameter?>> _parameters = [];
            private readonly List<KeyValuePair<string, (Tensor? tensor, bool persistent)>> _buffers = [];
            private readonly List<KeyValuePair<string, Module>> _modules = [];
            private bool _disposed;

            protected Module(string name) => GetName = name;

            /// <summary>The class name as in PyTorch's repr.</summary>
            public string GetName { get; }

            public bool training { get; private set; } = true;

            public void register_parameter(string name, Parameter? parameter)
            {
                CheckName(name);
                _parameters.Add(new(name, parameter));
            }

            public void register_buffer(string name, Tensor? tensor, bool persistent = true)
            {
                CheckName(name);
                tensor?.DetachFromDisposeScope();
                _buffers.Add(new(name, (tensor, persistent)));
            }

            public void register_module(string name, Module module)
            {
                CheckName(name);
                _modules.Add(new(name, module));
            }

            private void CheckName(string name)
            {
                if (string.IsNullOrEmpty(name) || name.Contains('.'))
                    throw new ArgumentException($"'{name}' is not a valid member name (empty or contains '.')", nameof(name));
                if (_parameters.Any(p => p.Key == name) || _buffers.Any(b => b.Key == name) || _modules.Any(m => m.Key == name))
                    throw new ArgumentException($"{GetName} already has a member named '{name}'", nameof(name));
            }

            /// <summary>Registers the fields of the concrete class (base classes first, declaration order): Parameter, Module, other Tensor (buffer).</summary>
            protected void RegisterComponents()
            {
                var types = new Stack<Type>();
                for (var t = GetType(); t != null && t != typeof(Module); t = t.BaseType) types.Push(t);
                foreach (var type in types)
                {
                    foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                    {
                        if (field.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute))) continue;
                        var name = field.Name;
                        switch (field.GetValue(this))
                        {
                            case Parameter p: register_parameter(name, p); break;
                            case Module m: register_module(name, m); break;
                            case Tensor t: register_buffer(name, t); break;
                        }
                    }
                }
            }

            public IEnumerable<(string name, Parameter parameter)> named_parameters(bool recurse = true)
            {
                foreach (var (name, p) in _parameters)
                    if (p != null) yield return (name, p);
                if (!recurse) yield break;
                foreach (var (prefix, m) in _modules)
                    foreach (var (name, p) in m.named_parameters())
                        yield return ($"{prefix}.{name}", p);
            }

            public IEnumerable<Parameter> parameters(bool recurse = true) => named_parameters(recurse).Select(p => p.parameter);

            public IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true) => Buffers(recurse, persistentOnly: false);

            private IEnumerable<(string name, Tensor buffer)> Buffers(bool recurse, bool persistentOnly)
            {
                foreach (var (name, b) in _buffers)
                    if (b.tensor != null && (b.persistent || !persistentOnly)) yield return (name, b.tensor);
                if (!recurse) yield break;
                foreach (var (prefix, m) in _modules)
                    foreach (var (name, b) in m.Buffers(true, persistentOnly))
                        yield return ($"{prefix}.{name}", b);
            }

            public IEnumerable<(string name, Module module)> named_children() => _modules.Select(m => (m.Key, m.Value));

            public IEnumerable<(string name, Module module)> named_modules()
            {
                yield return ("", this);
                foreach (var (prefix, m) in _modules)
                    foreach (var (name, sub) in m.named_modules())
                        yield return (name.Length == 0 ? prefix : $"{prefix}.{name}", sub);
            }

            public virtual Module train(bool on = true)
            {
                training = on;
                foreach (var (_, m) in _modules) m.train(on);
                return this;
            }

            public Module eval() => train(false);

            /// <summary>Moves/casts every parameter and buffer in place (same Parameter objects, as PyTorch does).</summary>
            public Module to(Device device, ScalarType? dtype = null) => Move(device, dtype);

            public Module to(ScalarType dtype) => Move(null, dtype);

            private Module Move(Device? device, ScalarType? dtype)
            {
                using var noGrad = no_grad();
                var all = named_parameters().Select(p => (Tensor)p.parameter).Concat(named_buffers().Select(b => b.buffer));
                foreach (var t in all)
                {
                    // Only floating tensors change dtype, as in PyTorch.
                    var type = IsFloating(t.dtype) ? dtype : null;
                    using var moved = device is { } d ? t.to(d, type) : type is { } ty ? t.to(ty) : t.alias();
                    t.set_data(moved);
                }
                return this;
            }

            private static bool IsFloating(ScalarType t) => t is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

            /// <summary>Parameters and persistent buffers by key, as detached tensors sharing storage (the caller disposes them).</summary>
            public Dictionary<string, Tensor> state_dict()
            {
                var result = new Dictionary<string, Tensor>();
                Collect(result, "");
                return result;
            }

            private void Collect(Dictionary<string, Tensor> into, string prefix)
            {
                foreach (var (name, p) in _parameters)
                    if (p != null) into[prefix + name] = p.detach();
                foreach (var (name, b) in _buffers)
                    if (b.tensor != null && b.persistent) into[prefix + name] = b.tensor.detach();
                foreach (var (name, m) in _modules)
                    m.Collect(into, $"{prefix}{name}.");
            }

            /// <summary>Copies values in; with <paramref name="strict"/>, missing and unexpected keys are errors. Shapes must always match.</summary>
            public (IReadOnlyList<string> missing, IReadOnlyList<string> unexpected) load_state_dict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
            {
                var own = named_parameters().Select(p => (p.name, tensor: (Tensor)p.parameter))
                    .Concat(Buffers(true, persistentOnly: true)).ToList();
                var missing = own.Where(o => !state.ContainsKey(o.name)).Select(o => o.name).ToList();
                var ownNames = own.Select(o => o.name).ToHashSet();
                var unexpected = state.Keys.Where(k => !ownNames.Contains(k)).ToList();
                var mismatched = new List<string>();
                foreach (var (name, tensor) in own)
                {
                    if (!state.TryGetValue(name, out var value)) continue;
                    var want = tensor.shape;
                    var have = value.shape;
                    if (!want.SequenceEqual(have))
                        mismatched.Add($"{name}: checkpoint has shape [{string.Join(", ", have)}], the module has [{string.Join(", ", want)}]");
                }
                if (mismatched.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
                    throw new StateDictException(missing, unexpected, mismatched);
                using var noGrad = no_grad();
                foreach (var (name, tensor) in own)
                    if (state.TryGetValue(name, out var value))
                        tensor.copy_(value);
                return (missing, unexpected);
            }

            public void zero_grad()
            {
                foreach (var p in parameters()) p.grad = null;
            }

            public void Dispose()
            {
                if (_disposed) return;
                _disposed = true;
                Dispose(true);
                GC.SuppressFinalize(this);
            }

            protected virtual void Dispose(bool disposing)
            {
                if (!disposing) return;
                foreach (var (_, p) in _parameters) p?.Dispose();
                foreach (var (_, b) in _buffers) b.tensor?.Dispose();
                foreach (var (_, m) in _modules) m.Dispose();
            }
        }

        /// <summary>A module with one input.</summary>
        public abstract class Module<T, TResult>(string name) : Module(name)
        {
            public abstract TResult forward(T input);

            public TResult call(T input) => forward(input);
        }

        /// <summary>A module with two inputs.</summary>
        public abstract class Module<T1, T2, TResult>(string name) : Module(name)
        {
            public abstract TResult forward(T1 input1, T2 input2);

            public TResult call(T1 input1, T2 input2) => forward(input1, input2);
        }
    }
}
#pragma warning restore IDE1006, CS8981
