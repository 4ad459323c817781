namespace GidCluster.Torch;

#pragma warning disable IDE1006, CS8981 // torch's spellings
public static unsafe partial class torch
{
    public static partial class nn
    {
        public static class utils
        {
            /// <summary>torch.nn.utils.clip_grad_norm_: scales all gradients so their joint p-norm is at most max_norm; returns the norm before clipping.</summary>
            public static double clip_grad_norm_(IEnumerable<Parameter> parameters, double max_norm, double norm_type = 2)
            {
                if (double.IsInfinity(norm_type) || norm_type <= 0)
                    throw new ArgumentOutOfRangeException(nameof(norm_type), norm_type, "clip_grad_norm_ supports finite p > 0");
                var list = parameters.ToList<Tensor>();
                using var handles = new HandleList(list);
                fixed (IntPtr* p = handles.Pointers)
                {
                    NativeMethods.Check(NativeMethods.gid_optim_clip_grad_norm(p, list.Count, max_norm, norm_type, out var total));
                    return total;
                }
            }
        }
    }

    public static partial class optim
    {
        /// <summary>One parameter group with its hyper-parameters (as torch's param_groups entries).</summary>
        public sealed class ParamGroup(IReadOnlyList<nn.Parameter> parameters, double lr, double beta1, double beta2, double eps, double weight_decay)
        {
            public IReadOnlyList<nn.Parameter> parameters { get; } = parameters;
            public double lr { get; set; } = lr;
            /// <summary>The learning rate schedulers scale (torch's initial_lr).</summary>
            public double initial_lr { get; set; } = lr;
            public double beta1 { get; set; } = beta1;
            public double beta2 { get; set; } = beta2;
            public double eps { get; set; } = eps;
            public double weight_decay { get; set; } = weight_decay;
        }

        /// <summary>Per-parameter state of AdamW: step count and the two moment estimates.</summary>
        public sealed class AdamWState(double step, Tensor exp_avg, Tensor exp_avg_sq)
        {
            public double step { get; set; } = step;
            public Tensor exp_avg { get; } = exp_avg;
            public Tensor exp_avg_sq { get; } = exp_avg_sq;
        }

        /// <summary>
        /// torch.optim.AdamW with the arithmetic of torch 1.13's single-tensor path (decoupled weight
        /// decay, bias-corrected moments), one native call per step for all parameters.
        /// </summary>
        public sealed class AdamW : IDisposable
        {
            private readonly Dictionary<nn.Parameter, AdamWState> _state = new(ReferenceEqualityComparer.Instance);

            public AdamW(IEnumerable<nn.Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 1e-2)
            {
                if (lr < 0) throw new ArgumentOutOfRangeException(nameof(lr), lr, "learning rate must be >= 0");
                if (eps < 0) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be >= 0");
                if (beta1 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1)");
                if (beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1)");
                if (weight_decay < 0) throw new ArgumentOutOfRangeException(nameof(weight_decay), weight_decay, "weight_decay must be >= 0");
                var list = parameters.ToList();
                if (list.Count == 0) throw new ArgumentException("optimizer got an empty parameter list", nameof(parameters));
                param_groups = [new ParamGroup(list, lr, beta1, beta2, eps, weight_decay)];
            }

            public List<ParamGroup> param_groups { get; }

            /// <summary>State of parameters that have taken a step, by parameter.</summary>
            public IReadOnlyDictionary<nn.Parameter, AdamWState> state => _state;

            public void zero_grad()
            {
                foreach (var g in param_groups)
                {
                    var list = g.parameters.ToList<Tensor>();
                    using var handles = new HandleList(list);
                    fixed (IntPtr* p = handles.Pointers)
                        NativeMethods.Check(NativeMethods.gid_optim_zero_grad(p, list.Count));
                }
            }

            public void step()
            {
                foreach (var g in param_groups)
                {
                    var active = new List<nn.Parameter>();
                    foreach (var p in g.parameters)
                    {
                        using var grad = p.grad;
                        if (grad is null) continue;
                        if (!_state.ContainsKey(p))
                        {
                            using var noGrad = no_grad();
                            _state[p] = new AdamWState(0,
                                zeros(p.shape, p.dtype, p.device).DetachFromDisposeScope(),
                                zeros(p.shape, p.dtype, p.device).DetachFromDisposeScope());
                        }
                        active.Add(p);
                    }
                    if (active.Count == 0) continue;
                    var states = active.Select(p => _state[p]).ToList();
                    var steps = states.Select(s => s.step).ToArray();
                    using var ps = new HandleList(active);
                    using var m = new HandleList(states.Select(s => s.exp_avg).ToList());
                    using var v = new HandleList(states.Select(s => s.exp_avg_sq).ToList());
                    fixed (IntPtr* pp = ps.Pointers)
                    fixed (IntPtr* mp = m.Pointers)
                    fixed (IntPtr* vp = v.Pointers)
                    fixed (double* sp = steps)
                        NativeMethods.Check(NativeMethods.gid_optim_adamw_step(pp, mp, vp, sp, active.Count, g.lr, g.beta1, g.beta2, g.eps, g.weight_decay));
                    for (var i = 0; i < states.Count; i++) states[i].step = steps[i];
                }
            }

            /// <summary>Adds state loaded from a checkpoint (copies the tensors).</summary>
            public void set_state(nn.Parameter parameter, double step, Tensor exp_avg, Tensor exp_avg_sq)
            {
                if (!param_groups.Any(g => g.parameters.Contains(parameter)))
                    throw new ArgumentException("the parameter is not managed by this optimizer", nameof(parameter));
                if (!exp_avg.shape.SequenceEqual(parameter.shape) || !exp_avg_sq.shape.SequenceEqual(parameter.shape))
                    throw new ArgumentException($"optimizer state shape [{string.Join(", ", exp_avg.shape)}] does not match parameter [{string.Join(", ", parameter.shape)}]");
                if (_state.Remove(parameter, out var old))
                {
                    old.exp_avg.Dispose();
                    old.exp_avg_sq.Dispose();
                }
                using var noGrad = no_grad();
                _state[parameter] = new AdamWState(step, exp_avg.to(parameter.device, parameter.dtype, copy: true).DetachFromDisposeScope(),
                    exp_avg_sq.to(parameter.device, parameter.dtype, copy: true).DetachFromDisposeScope());
            }

            /// <summary>
            /// The optimizer state in torch.optim's layout ({'state': {index: {'step', 'exp_avg', 'exp_avg_sq'}},
            /// 'param_groups': [...]}), so torch.save of it loads into Python's AdamW and back. Tensors are shared, not copied.
            /// </summary>
            public Dictionary<string, object?> state_dict()
            {
                var stateByIndex = new Dictionary<long, object?>();
                var groups = new List<object?>();
                long index = 0;
                foreach (var g in param_groups)
                {
                    var ids = new List<object?>();
                    foreach (var p in g.parameters)
                    {
                        if (_state.TryGetValue(p, out var s))
                        {
                            stateByIndex[index] = new Dictionary<string, object?>
                            {
                                ["step"] = scalar_tensor(s.step),
                                ["exp_avg"] = s.exp_avg,
                                ["exp_avg_sq"] = s.exp_avg_sq,
                            };
                        }
                        ids.Add(index++);
                    }
                    groups.Add(new Dictionary<string, object?>
                    {
                        ["lr"] = g.lr,
                        ["betas"] = new PyTuple(g.beta1, g.beta2),
                        ["eps"] = g.eps,
                        ["weight_decay"] = g.weight_decay,
                        ["amsgrad"] = false,
                        ["foreach"] = null,
                        ["maximize"] = false,
                        ["capturable"] = false,
                        ["initial_lr"] = g.initial_lr,
                        ["params"] = ids,
                    });
                }
                return new Dictionary<string, object?> { ["state"] = stateByIndex, ["param_groups"] = groups };
            }

            /// <summary>Loads a state in torch.optim's layout (from <see cref="state_dict"/> or Python's optimizer.state_dict()).</summary>
            public void load_state_dict(object? saved)
            {
                if (saved is not Dictionary<string, object?> root || root.GetValueOrDefault("param_groups") is not List<object?> groups
                    || root.GetValueOrDefault("state") is not { } stateValue)
                    throw new InvalidDataException("optimizer state must be a dict with 'state' and 'param_groups'");
                if (groups.Count != param_groups.Count)
                    throw new InvalidDataException($"optimizer state has {groups.Count} parameter group(s), this optimizer has {param_groups.Count}");
                var states = stateValue as Dictionary<long, object?> ?? (stateValue is Dictionary<string, object?> { Count: 0 } ? [] :
                    throw new InvalidDataException("optimizer 'state' must be keyed by parameter index"));
                for (var gi = 0; gi < groups.Count; gi++)
                {
                    if (groups[gi] is not Dictionary<string, object?> saved_group || saved_group.GetValueOrDefault("params") is not List<object?> ids)
                        throw new InvalidDataException($"param_groups[{gi}] lacks 'params'");
                    var group = param_groups[gi];
                    if (ids.Count != group.parameters.Count)
                        throw new InvalidDataException($"param_groups[{gi}] has {ids.Count} parameters, this optimizer's group has {group.parameters.Count}");
                    group.lr = Number(saved_group, "lr");
                    group.eps = Number(saved_group, "eps");
                    group.weight_decay = Number(saved_group, "weight_decay");
                    if (saved_group.GetValueOrDefault("betas") is PyTuple { Items: [var b1, var b2] })
                    {
                        group.beta1 = Convert.ToDouble(b1, System.Globalization.CultureInfo.InvariantCulture);
                        group.beta2 = Convert.ToDouble(b2, System.Globalization.CultureInfo.InvariantCulture);
                    }
                    if (saved_group.ContainsKey("initial_lr")) group.initial_lr = Number(saved_group, "initial_lr");
                    for (var i = 0; i < ids.Count; i++)
                    {
                        if (ids[i] is not long id || !states.TryGetValue(id, out var entry)) continue;
                        if (entry is not Dictionary<string, object?> s || s.GetValueOrDefault("exp_avg") is not Tensor m || s.GetValueOrDefault("exp_avg_sq") is not Tensor v)
                            throw new InvalidDataException($"state of parameter {id} lacks exp_avg/exp_avg_sq tensors");
                        var step = s.GetValueOrDefault("step") switch
                        {
                            Tensor t => t.item(),
                            double d => d,
                            long l => l,
                            var other => throw new InvalidDataException($"state of parameter {id} has step {Describe(other)}"),
                        };
                        set_state(group.parameters[i], step, m, v);
                    }
                }
            }

            private static double Number(Dictionary<string, object?> d, string key) => d.GetValueOrDefault(key) switch
            {
                double x => x,
                long l => l,
                var other => throw new InvalidDataException($"param group '{key}' is {Describe(other)}, not a number"),
            };

            public void Dispose()
            {
                foreach (var s in _state.Values)
                {
                    s.exp_avg.Dispose();
                    s.exp_avg_sq.Dispose();
                }
                _state.Clear();
            }
        }

        public static class lr_scheduler
        {
            /// <summary>
            /// Linear warmup from 0 to the base rate over <c>warmup_steps</c>, then cosine decay to
            /// <c>min_ratio</c>·base at <c>total_steps</c> (held after). Call step() after each optimizer step,
            /// like torch's LambdaLR with the same factor.
            /// </summary>
            public sealed class WarmupCosine
            {
                private readonly AdamW _optimizer;
                private readonly long _warmup, _total;
                private readonly double _minRatio;

                public WarmupCosine(AdamW optimizer, long warmup_steps, long total_steps, double min_ratio = 0)
                {
                    if (warmup_steps < 0 || total_steps <= warmup_steps)
                        throw new ArgumentException($"need 0 <= warmup_steps ({warmup_steps}) < total_steps ({total_steps})");
                    (_optimizer, _warmup, _total, _minRatio) = (optimizer, warmup_steps, total_steps, min_ratio);
                    Apply();
                }

                public long last_epoch { get; private set; }

                public double Factor(long step)
                {
                    if (step < _warmup) return (double)step / _warmup;
                    var progress = Math.Min(1.0, (double)(step - _warmup) / (_total - _warmup));
                    return _minRatio + (1 - _minRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress));
                }

                public void step()
                {
                    last_epoch++;
                    Apply();
                }

                public double get_last_lr() => _optimizer.param_groups[0].lr;

                private void Apply()
                {
                    foreach (var g in _optimizer.param_groups) g.lr = g.initial_lr * Factor(last_epoch);
                }
            }
        }

        /// <summary>Exponential moving average of a module's parameters: ema ← decay·ema + (1 − decay)·param.</summary>
        public sealed class ExponentialMovingAverage : IDisposable
        {
            private readonly List<nn.Parameter> _source;
            private readonly List<Tensor> _shadow;

            public ExponentialMovingAverage(nn.Module module, double decay)
            {
                if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay), decay, "decay must be in [0, 1]");
                this.decay = decay;
                _source = module.parameters().ToList();
                using var noGrad = no_grad();
                _shadow = _source.Select(p => p.detach().clone().DetachFromDisposeScope()).ToList();
            }

            public double decay { get; }

            public IReadOnlyList<Tensor> shadow => _shadow;

            public void update()
            {
                using var e = new HandleList(_shadow);
                using var p = new HandleList(_source);
                fixed (IntPtr* ep = e.Pointers)
                fixed (IntPtr* pp = p.Pointers)
                    NativeMethods.Check(NativeMethods.gid_optim_ema_update(ep, pp, _shadow.Count, decay));
            }

            /// <summary>Copies the averaged weights into <paramref name="module"/> (same architecture).</summary>
            public void copy_to(nn.Module module)
            {
                var targets = module.parameters().ToList();
                if (targets.Count != _shadow.Count)
                    throw new ArgumentException($"module has {targets.Count} parameters, the EMA holds {_shadow.Count}", nameof(module));
                using var noGrad = no_grad();
                for (var i = 0; i < targets.Count; i++) targets[i].copy_(_shadow[i]);
            }

            public void Dispose()
            {
                foreach (var t in _shadow) t.Dispose();
            }
        }
    }
}
#pragma warning restore IDE1006, CS8981
