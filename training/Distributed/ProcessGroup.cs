using System.Globalization;
using System.Net;
using GidCluster.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace GidCluster.Training.Distributed;

/// <summary>The collective library under a <see cref="ProcessGroup"/>, as PyTorch's <c>backend=</c>.</summary>
public enum Backend
{
    /// <summary>Gloo over TCP, CPU tensors (native/collectives, linked against Debian's Gloo).</summary>
    Gloo,

    /// <summary>NCCL, CUDA tensors: <c>libnccl.so.2</c> and <c>libcudart.so.12</c> are opened at run time.</summary>
    Nccl,
}

public enum ReduceOp
{
    Sum,
    Average,
    Max,
    Min,
}

/// <summary>
/// A group of training processes joined through Gloo (TCP, CPU tensors) or NCCL (CUDA tensors), the
/// part of <c>torch.distributed</c> that data-parallel training needs: rendezvous (<c>file://DIR</c>
/// or <c>tcp://HOST:PORT</c>), in-place all-reduce, broadcast and barrier. Every call is bounded by
/// the timeout: a rank that died makes the others throw (a <see cref="NativeException"/> naming the
/// backend's error) instead of hanging.
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    private readonly GroupHandle _handle;

    /// <summary>Environment variable naming the backend for <see cref="FromEnvironment"/> (<c>gloo</c> or <c>nccl</c>).</summary>
    public const string BackendVariable = "GID_DIST_BACKEND";

    /// <summary>Optional paths of the NCCL and CUDA runtime libraries (default: the loader's search for <c>libnccl.so.2</c>, <c>libcudart.so.12</c>).</summary>
    public const string NcclLibraryVariable = "GID_NCCL_LIBRARY", CudartLibraryVariable = "GID_CUDART_LIBRARY";

    private ProcessGroup(GroupHandle handle, Backend backend, int rank, int size, int localRank)
    {
        _handle = handle;
        Backend = backend;
        Rank = rank;
        Size = size;
        LocalRank = localRank;
    }

    public Backend Backend { get; }
    public int Rank { get; }
    public int Size { get; }

    /// <summary>This process's index on its machine (<c>LOCAL_RANK</c>; its GPU on a CUDA machine).</summary>
    public int LocalRank { get; }

    /// <summary>
    /// Opens NCCL and the CUDA runtime (paths default to <see cref="NcclLibraryVariable"/>, <see cref="CudartLibraryVariable"/>,
    /// then the loader's search) and returns NCCL's version; a <see cref="NativeException"/> names what is missing.
    /// </summary>
    public static string LoadNccl(string? ncclPath = null, string? cudartPath = null)
    {
        NativeMethods.Check(NativeMethods.gid_coll_nccl_load(ncclPath ?? EnvPath(NcclLibraryVariable), cudartPath ?? EnvPath(CudartLibraryVariable), out var code), "nccl");
        // ncclGetVersion's code: major*10000 + minor*100 + patch since NCCL 2.9.
        return $"{code / 10000}.{code / 100 % 100}.{code % 100}";
    }

    /// <summary>
    /// <c>gloo</c> or <c>nccl</c> (any case); none means what PyTorch picks for the tensors at hand:
    /// NCCL when CUDA is available, otherwise Gloo.
    /// </summary>
    public static Backend ParseBackend(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" => cuda.is_available() ? Backend.Nccl : Backend.Gloo,
        "gloo" => Backend.Gloo,
        "nccl" => Backend.Nccl,
        _ => throw new ArgumentException($"backend '{name}' is neither gloo nor nccl", nameof(name)),
    };

    /// <summary>The Gloo version the collective shim was built against.</summary>
    public static string GlooVersion => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(NativeMethods.gid_coll_gloo_version())!;

    /// <summary>
    /// Joins a group. <paramref name="initMethod"/>: <c>file:///shared/dir</c> (every rank names the
    /// same directory) or <c>tcp://HOST:PORT</c> (rank 0 serves the rendezvous there).
    /// <paramref name="interfaceHost"/> is the address this rank's connections bind to (Gloo).
    /// <paramref name="backend"/>: <c>gloo</c>, <c>nccl</c> or none (see <see cref="ParseBackend"/>); NCCL
    /// uses CUDA device <paramref name="localRank"/>.
    /// </summary>
    public static ProcessGroup Init(string initMethod, int rank, int worldSize, TimeSpan? timeout = null, string? interfaceHost = null, int localRank = 0,
        string? backend = null)
    {
        var chosen = ParseBackend(backend);
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "world size must be at least 1");
        if (rank < 0 || rank >= worldSize)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank {rank} is outside 0..{worldSize - 1}");
        var limit = timeout ?? TimeSpan.FromMinutes(5);
        if (limit <= TimeSpan.Zero || limit.TotalMilliseconds > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(timeout), limit, "timeout must be positive and under 24 days");
        int kind, port = 0;
        string address;
        if (initMethod.StartsWith("file://", StringComparison.Ordinal))
        {
            kind = 0;
            address = initMethod["file://".Length..];
            if (address.Length == 0) throw new ArgumentException($"init_method {initMethod} names no directory", nameof(initMethod));
            Directory.CreateDirectory(address);
        }
        else if (initMethod.StartsWith("tcp://", StringComparison.Ordinal)
                 && Uri.TryCreate(initMethod, UriKind.Absolute, out var uri) && uri.Port > 0)
        {
            kind = 1;
            address = uri.Host;
            port = uri.Port;
        }
        else
        {
            throw new ArgumentException($"init_method '{initMethod}' is neither file:///DIR nor tcp://HOST:PORT", nameof(initMethod));
        }
        if (localRank < 0) throw new ArgumentOutOfRangeException(nameof(localRank), localRank, "local rank must not be negative");
        IntPtr handle;
        if (chosen == Backend.Nccl)
        {
            NativeMethods.Check(NativeMethods.gid_coll_init_nccl(kind, address, port, rank, worldSize, localRank, (int)limit.TotalMilliseconds,
                EnvPath(NcclLibraryVariable), EnvPath(CudartLibraryVariable), out handle), "nccl");
        }
        else
        {
            var host = interfaceHost ?? (kind == 0 || IsLoopback(address) ? "127.0.0.1" : Dns.GetHostName());
            NativeMethods.Check(NativeMethods.gid_coll_init(kind, address, port, host, rank, worldSize, (int)limit.TotalMilliseconds, out handle));
        }
        return new ProcessGroup(new GroupHandle(handle), chosen, rank, worldSize, localRank);
    }

    /// <summary>
    /// Joins the group described by the environment, as <c>torchrun</c> sets it: <c>RANK</c>,
    /// <c>WORLD_SIZE</c>, <c>MASTER_ADDR</c>, <c>MASTER_PORT</c>, <c>LOCAL_RANK</c> (default 0), and the
    /// backend from <see cref="BackendVariable"/> (default: see <see cref="ParseBackend"/>).
    /// </summary>
    public static ProcessGroup FromEnvironment(TimeSpan? timeout = null)
    {
        var rank = EnvInt("RANK");
        var world = EnvInt("WORLD_SIZE");
        var addr = Environment.GetEnvironmentVariable("MASTER_ADDR");
        var port = EnvInt("MASTER_PORT");
        if (string.IsNullOrWhiteSpace(addr)) throw new InvalidOperationException("MASTER_ADDR is not set");
        var local = Environment.GetEnvironmentVariable("LOCAL_RANK") is { Length: > 0 } ? EnvInt("LOCAL_RANK") : 0;
        // Off one machine the ranks' Gloo pairs must bind to an address the others reach (the pod's IP), not loopback.
        var own = Environment.GetEnvironmentVariable(GidCluster.Contracts.TrainSpec.RankAddressVariable) is { Length: > 0 } a ? a : null;
        return Init($"tcp://{addr}:{port}", rank, world, timeout, interfaceHost: own, localRank: local, backend: Environment.GetEnvironmentVariable(BackendVariable));
    }

    /// <summary>Reduces <paramref name="tensor"/> over all ranks, in place (contiguous; CPU for Gloo, this rank's GPU for NCCL).</summary>
    public void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        var pointer = DataPointer(tensor);
        var code = op switch { ReduceOp.Sum or ReduceOp.Average => 0, ReduceOp.Max => 1, ReduceOp.Min => 2, _ => throw new ArgumentOutOfRangeException(nameof(op)) };
        NativeMethods.Check(NativeMethods.gid_coll_allreduce(Handle, pointer, tensor.numel(), DtypeCode(tensor.dtype), code), EngineName);
        if (op == ReduceOp.Average)
        {
            using var noGrad = no_grad();
            tensor.div_(Size); // Gloo has no average: sum, then divide (as torch.distributed's gloo backend does; NCCL the same, one code path)
        }
    }

    /// <summary>Overwrites <paramref name="tensor"/> on every rank with rank <paramref name="src"/>'s values.</summary>
    public void Broadcast(Tensor tensor, int src = 0)
    {
        var pointer = DataPointer(tensor);
        NativeMethods.Check(NativeMethods.gid_coll_broadcast(Handle, pointer, tensor.numel() * tensor.element_size(), src), EngineName);
    }

    public void Barrier() => NativeMethods.Check(NativeMethods.gid_coll_barrier(Handle), EngineName);

    private string EngineName => Backend == Backend.Nccl ? "nccl" : "gloo";

    public void Dispose() => _handle.Dispose();

    private IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    private IntPtr DataPointer(Tensor tensor)
    {
        if (Backend == Backend.Gloo && tensor.device_type != DeviceType.CPU)
            throw new ArgumentException($"tensor is on {tensor.device}: the gloo backend takes CPU tensors (use backend nccl for CUDA)", nameof(tensor));
        if (Backend == Backend.Nccl && (tensor.device_type != DeviceType.CUDA || tensor.device.index != LocalRank))
            throw new ArgumentException($"tensor is on {tensor.device}: this nccl group works on cuda:{LocalRank} (its LOCAL_RANK)", nameof(tensor));
        if (!tensor.is_contiguous())
            throw new ArgumentException("tensor is not contiguous: collectives work in place on its memory", nameof(tensor));
        return NativeMethods.THSTensor_data(tensor.Handle);
    }

    private static int DtypeCode(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => 0,
        ScalarType.Float64 => 1,
        ScalarType.Int32 => 2,
        ScalarType.Int64 => 3,
        _ => throw new ArgumentException($"all-reduce supports float32, float64, int32 and int64 tensors, not {dtype}"),
    };

    private static string? EnvPath(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } path ? path : null;

    private static bool IsLoopback(string host) =>
        host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    private static int EnvInt(string name)
    {
        var text = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(text)) throw new InvalidOperationException($"{name} is not set");
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidOperationException($"{name}={text} is not an integer");
    }

    private sealed class GroupHandle(IntPtr handle) : OwnedHandle(handle)
    {
        protected override void Free(IntPtr handle) => NativeMethods.gid_coll_free(handle);
    }
}
