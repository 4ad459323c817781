using System.Globalization;
using System.Runtime.InteropServices;

namespace GidCluster.Torch;

internal static unsafe partial class NativeMethods
{
    [DllImport(Lib)] internal static extern int gid_store_file([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int worldSize, out IntPtr store);
    [DllImport(Lib)] internal static extern int gid_store_tcp([MarshalAs(UnmanagedType.LPUTF8Str)] string host, int port, int worldSize, int isMaster, long timeoutMs, out IntPtr store);
    [DllImport(Lib)] internal static extern void gid_store_free(IntPtr store);
    [DllImport(Lib)]
    internal static extern int gid_pg_new(IntPtr store, [MarshalAs(UnmanagedType.LPUTF8Str)] string backend, int rank, int size, long timeoutMs,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string bindAddress, out IntPtr pg);
    [DllImport(Lib)] internal static extern void gid_pg_free(IntPtr pg);
    [DllImport(Lib)] internal static extern int gid_pg_all_reduce(IntPtr pg, TensorHandle t, int op);
    [DllImport(Lib)] internal static extern int gid_pg_broadcast(IntPtr pg, TensorHandle t, int root);
    [DllImport(Lib)] internal static extern int gid_pg_barrier(IntPtr pg);
    [DllImport(Lib)] internal static extern int gid_pg_all_gather(IntPtr pg, TensorHandle input, IntPtr* outputs, int n);
    [DllImport(Lib)] internal static extern int gid_ddp_broadcast(IntPtr pg, IntPtr* tensors, int n, long bucketBytes);
    [DllImport(Lib)] internal static extern int gid_ddp_average_gradients(IntPtr pg, IntPtr* parameters, int n, long bucketBytes);
}

#pragma warning disable IDE1006, CS8981 // torch's spellings
public static unsafe partial class torch
{
    /// <summary>torch.distributed over c10d: rendezvous, Gloo (CPU) or NCCL (CUDA builds) process groups, collectives.</summary>
    public static class distributed
    {
        public enum ReduceOp
        {
            SUM = 0,
            /// <summary>Sum divided by the world size (Gloo has no native AVG).</summary>
            AVG = 1,
            PRODUCT = 2,
            MIN = 3,
            MAX = 4,
        }

        /// <summary>
        /// Joins a process group. Rank and world size come from the arguments or RANK / WORLD_SIZE;
        /// init_method is <c>file:///path</c> (FileStore, no socket), <c>tcp://host:port</c>, or
        /// <c>env://</c> (default: MASTER_ADDR / MASTER_PORT, TCPStore served by rank 0).
        /// <paramref name="bind_address"/> is where Gloo's pairs listen (default: MASTER_ADDR for
        /// env/tcp, 127.0.0.1 for file).
        /// </summary>
        public static ProcessGroup init_process_group(string backend = "gloo", string init_method = "env://", int? rank = null, int? world_size = null,
            TimeSpan? timeout = null, string? bind_address = null)
        {
            var r = rank ?? EnvInt("RANK");
            var w = world_size ?? EnvInt("WORLD_SIZE");
            if (w < 1 || r < 0 || r >= w)
                throw new ArgumentException($"rank {r} is not valid in a world of size {w}");
            var limit = timeout ?? TimeSpan.FromMinutes(5);
            IntPtr store;
            string bind;
            if (init_method.StartsWith("file://", StringComparison.Ordinal))
            {
                NativeMethods.Check(NativeMethods.gid_store_file(init_method["file://".Length..], w, out store));
                bind = bind_address ?? "127.0.0.1";
            }
            else
            {
                string host;
                int port;
                if (init_method == "env://")
                {
                    host = Environment.GetEnvironmentVariable("MASTER_ADDR") ?? throw new ArgumentException("env:// needs MASTER_ADDR");
                    port = EnvInt("MASTER_PORT");
                }
                else if (init_method.StartsWith("tcp://", StringComparison.Ordinal) && Uri.TryCreate(init_method, UriKind.Absolute, out var uri) && uri.Port > 0)
                {
                    host = uri.Host;
                    port = uri.Port;
                }
                else
                {
                    throw new ArgumentException($"init_method '{init_method}' is not file:///PATH, tcp://HOST:PORT or env://", nameof(init_method));
                }
                NativeMethods.Check(NativeMethods.gid_store_tcp(host, port, w, r == 0 ? 1 : 0, (long)limit.TotalMilliseconds, out store));
                bind = bind_address ?? host;
            }
            try
            {
                NativeMethods.Check(NativeMethods.gid_pg_new(store, backend, r, w, (long)limit.TotalMilliseconds, bind, out var pg));
                return new ProcessGroup(pg, store, r, w);
            }
            catch
            {
                NativeMethods.gid_store_free(store);
                throw;
            }
        }

        /// <summary>LOCAL_RANK (the device index on this machine), 0 when unset.</summary>
        public static int local_rank => Environment.GetEnvironmentVariable("LOCAL_RANK") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : 0;

        private static int EnvInt(string name)
        {
            var s = Environment.GetEnvironmentVariable(name) ?? throw new ArgumentException($"{name} is not set and was not given");
            return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
                : throw new ArgumentException($"{name}='{s}' is not an integer");
        }

        /// <summary>A joined process group; collectives block until done (bounded by the group's timeout).</summary>
        public sealed class ProcessGroup : IDisposable
        {
            private IntPtr _pg, _store;

            internal ProcessGroup(IntPtr pg, IntPtr store, int rank, int size) => (_pg, _store, this.rank, this.size) = (pg, store, rank, size);

            public int rank { get; }
            public int size { get; }

            internal IntPtr Handle => _pg != IntPtr.Zero ? _pg : throw new ObjectDisposedException(nameof(ProcessGroup));

            public void all_reduce(Tensor tensor, ReduceOp op = ReduceOp.SUM) => NativeMethods.Check(NativeMethods.gid_pg_all_reduce(Handle, tensor.Handle, (int)op));

            public void broadcast(Tensor tensor, int src) => NativeMethods.Check(NativeMethods.gid_pg_broadcast(Handle, tensor.Handle, src));

            public void barrier() => NativeMethods.Check(NativeMethods.gid_pg_barrier(Handle));

            /// <summary>Fills <paramref name="outputs"/> (one tensor per rank, shaped like input) with every rank's input.</summary>
            public void all_gather(IReadOnlyList<Tensor> outputs, Tensor input)
            {
                using var list = new HandleList(outputs);
                fixed (IntPtr* p = list.Pointers)
                    NativeMethods.Check(NativeMethods.gid_pg_all_gather(Handle, input.Handle, p, outputs.Count));
            }

            internal void Collective(IReadOnlyList<Tensor> tensors, long bucketBytes, bool gradients)
            {
                using var list = new HandleList(tensors);
                fixed (IntPtr* p = list.Pointers)
                    NativeMethods.Check(gradients
                        ? NativeMethods.gid_ddp_average_gradients(Handle, p, tensors.Count, bucketBytes)
                        : NativeMethods.gid_ddp_broadcast(Handle, p, tensors.Count, bucketBytes));
            }

            public void Dispose()
            {
                if (_pg != IntPtr.Zero) NativeMethods.gid_pg_free(_pg);
                if (_store != IntPtr.Zero) NativeMethods.gid_store_free(_store);
                _pg = _store = IntPtr.Zero;
            }
        }
    }

    public static partial class nn
    {
        public static class parallel
        {
            /// <summary>
            /// Data parallelism over a process group: at construction every rank takes rank 0's
            /// parameters and buffers; after each backward, <see cref="average_gradients"/> all-reduces
            /// the gradients in flat buckets and divides by the world size (call it before the optimizer step).
            /// </summary>
            public sealed class DistributedDataParallel<TModule> where TModule : Module
            {
                private readonly distributed.ProcessGroup _group;
                private readonly long _bucketBytes;
                private readonly List<Parameter> _parameters;

                public DistributedDataParallel(TModule module, distributed.ProcessGroup group, double bucket_cap_mb = 25)
                {
                    (this.module, _group) = (module, group);
                    _bucketBytes = (long)(bucket_cap_mb * 1024 * 1024);
                    _parameters = module.parameters().ToList();
                    var all = _parameters.Cast<Tensor>().Concat(module.named_buffers().Select(b => b.buffer)).ToList();
                    group.Collective(all, _bucketBytes, gradients: false);
                }

                public TModule module { get; }

                public void average_gradients() => _group.Collective(_parameters, _bucketBytes, gradients: true);
            }
        }
    }
}
#pragma warning restore IDE1006, CS8981
