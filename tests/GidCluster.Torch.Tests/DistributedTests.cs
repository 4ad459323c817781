using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using GidCluster.Native;
using GidCluster.Training.Distributed;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Real processes (this assembly run as <see cref="Worker"/>) join through the Gloo shim, which lives
/// in the same process as TorchSharp's libtorch (both carry Gloo symbols: they must not clash).
/// </summary>
public class DistributedTests
{
    private static readonly string Assembly = typeof(Worker).Assembly.Location;

    /// <summary>Starts one worker per rank with RANK/WORLD_SIZE (and <paramref name="extra"/>) set; each is killed if it outlives the limit.</summary>
    private static ProgramResult[] RunRanks(int world, string[] args, Dictionary<string, string?>? extra = null)
    {
        var tasks = Enumerable.Range(0, world).Select(rank => Task.Run(() =>
        {
            var env = new Dictionary<string, string?> { ["RANK"] = rank.ToString(), ["WORLD_SIZE"] = world.ToString(), ["MASTER_ADDR"] = null, ["MASTER_PORT"] = null, [ProcessGroup.BackendVariable] = null };
            foreach (var (k, v) in extra ?? []) env[k] = v;
            return Programs.Run("dotnet", [Assembly, .. args], TimeSpan.FromSeconds(120), environment: env);
        })).ToArray();
        Task.WaitAll(tasks);
        return tasks.Select(t => t.Result).ToArray();
    }

    private static void AssertOk(ProgramResult[] results)
    {
        for (var r = 0; r < results.Length; r++)
            Assert.True(results[r].ExitCode == 0, $"rank {r} failed:\n{results[r].Combined}");
    }

    [Fact]
    public void Gloo_collectives_are_correct_across_two_processes_with_a_file_rendezvous()
    {
        using var dir = Paths.NewTempDir("gid-torch-dist");
        var results = RunRanks(2, ["collectives", Path.Combine(dir.Path, "store")]);
        AssertOk(results);
        for (var r = 0; r < 2; r++)
            Assert.Contains($"rank {r}/2 ok", results[r].Stdout);
    }

    [Fact]
    public void Ranks_rendezvous_over_tcp_from_the_torchrun_environment()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var results = RunRanks(2, ["collectives-env"], new() { ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = port.ToString(), ["LOCAL_RANK"] = "0" });
        AssertOk(results);
        for (var r = 0; r < 2; r++)
            Assert.Contains($"rank {r}/2 ok", results[r].Stdout);
    }

    [Fact]
    public void Data_parallel_on_two_ranks_equals_one_rank_with_the_double_batch()
    {
        using var dir = Paths.NewTempDir("gid-torch-ddp");
        var output = Path.Combine(dir.Path, "ddp.dat");
        const int perRank = 3, steps = 10;
        AssertOk(RunRanks(2, ["ddp", Path.Combine(dir.Path, "store"), output, perRank.ToString(), steps.ToString()]));

        // The single-rank reference: rank 0's initial weights (seed 100), the whole batch of 2 × 3.
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(100);
        using var net = new SmallNet();
        var (x, y) = Worker.DdpData(2 * perRank);
        using var opt = torch.optim.AdamW(net.parameters(), lr: 0.01);
        for (var step = 0; step < steps; step++)
        {
            using var s = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.call(x), y).backward();
            opt.step();
        }
        for (var rank = 0; rank < 2; rank++)
        {
            using var ddp = new SmallNet();
            ddp.load(output + "." + rank);
            var reference = net.state_dict();
            foreach (var (name, t) in ddp.state_dict())
                PyTensors.AssertClose(t, reference[name], 1e-5, $"rank {rank}: {name}");
        }
        // and the ranks did start apart (seeds 100 and 101), so the broadcast is what made them equal
        torch.manual_seed(101);
        using var other = new SmallNet();
        torch.manual_seed(100);
        using var first = new SmallNet();
        Assert.True(PyTensors.RelativeError(other.state_dict()["conv1.weight"], first.state_dict()["conv1.weight"]) > 0.1);
    }

    [Fact]
    public void A_rank_that_dies_makes_the_others_fail_with_a_clear_error_not_hang()
    {
        using var dir = Paths.NewTempDir("gid-torch-dead");
        var clock = Stopwatch.StartNew();
        var results = RunRanks(2, ["die", Path.Combine(dir.Path, "store")]);
        Assert.Equal(3, results[1].ExitCode);
        Assert.True(results[0].ExitCode == 0, $"rank 0 did not report the failure:\n{results[0].Combined}");
        Assert.Contains("ERROR gloo:", results[0].Stdout);
        var failedAfter = long.Parse(results[0].Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
            .SkipWhile(w => w != "FAILED_AFTER_MS").ElementAt(1));
        Assert.True(failedAfter < 15_000, $"rank 0 noticed after {failedAfter} ms (timeout 10 s)");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(100));
    }

    [Fact]
    public void Bad_rendezvous_arguments_are_rejected_before_any_socket()
    {
        Assert.Contains("rank 2", Assert.Throws<ArgumentOutOfRangeException>(() => ProcessGroup.Init("file:///tmp/x", rank: 2, worldSize: 2)).Message);
        Assert.Contains("init_method", Assert.Throws<ArgumentException>(() => ProcessGroup.Init("udp://x", rank: 0, worldSize: 1)).Message);
        if (Environment.GetEnvironmentVariable("RANK") is null)
            Assert.Contains("RANK is not set", Assert.Throws<InvalidOperationException>(() => ProcessGroup.FromEnvironment()).Message);
    }

    [Fact]
    public void Asking_for_nccl_without_nccl_fails_at_once_naming_the_library()
    {
        // Where NCCL and the CUDA runtime do exist, loading them must work instead (and report a version).
        if (NativeLibrary.TryLoad("libnccl.so.2", out var nccl))
        {
            NativeLibrary.Free(nccl);
            Assert.Matches(@"^2\.\d+\.\d+$", ProcessGroup.LoadNccl());
            return;
        }
        using var dir = Paths.NewTempDir("gid-torch-nccl");
        var clock = Stopwatch.StartNew();
        // Rank 1 of 2 would wait the full minute for rank 0's unique id if the libraries were not checked first.
        var e = Assert.Throws<NativeException>(() => ProcessGroup.Init("file://" + dir.Path, 1, 2, TimeSpan.FromSeconds(60), backend: "nccl"));
        Assert.Equal("nccl", e.Engine);
        Assert.Contains("cannot load libnccl.so.2", e.Message);
        Assert.Contains("gloo", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path)); // no rendezvous was touched

        // The torchrun-style environment selects it the same way: both ranks exit with the error, neither hangs nor crashes.
        var results = RunRanks(2, ["collectives-env"], new() { ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = "1", [ProcessGroup.BackendVariable] = "nccl" });
        foreach (var r in results)
        {
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("nccl: the NCCL backend is unavailable: cannot load libnccl.so.2", r.Stderr);
        }
    }

    [Fact]
    public void The_nccl_loader_turns_dlopen_and_dlsym_failures_into_exceptions()
    {
        var missing = Assert.Throws<NativeException>(() => ProcessGroup.LoadNccl("/nonexistent/libnccl.so.2", "/nonexistent/libcudart.so.12"));
        Assert.Contains("cannot load /nonexistent/libnccl.so.2 (NCCL)", missing.Message);
        // A real library that is not NCCL: the runtime is looked for next, then every symbol.
        var noRuntime = Assert.Throws<NativeException>(() => ProcessGroup.LoadNccl("libz.so.1", "/nonexistent/libcudart.so.12"));
        Assert.Contains("cannot load /nonexistent/libcudart.so.12 (CUDA runtime)", noRuntime.Message);
        var notNccl = Assert.Throws<NativeException>(() => ProcessGroup.LoadNccl("libz.so.1", "libz.so.1"));
        Assert.Contains("libz.so.1 has no symbol ncclGetUniqueId", notNccl.Message);
    }

    [Fact]
    public void The_backend_is_chosen_like_pytorchs_backend_argument()
    {
        Assert.Equal(Backend.Nccl, ProcessGroup.ParseBackend("NCCL"));
        Assert.Equal(Backend.Gloo, ProcessGroup.ParseBackend(" gloo "));
        Assert.Equal(torch.cuda.is_available() ? Backend.Nccl : Backend.Gloo, ProcessGroup.ParseBackend(null));
        Assert.Contains("'mpi' is neither gloo nor nccl", Assert.Throws<ArgumentException>(() => ProcessGroup.ParseBackend("mpi")).Message);
        using var dir = Paths.NewTempDir("gid-torch-backend");
        using var pg = ProcessGroup.Init("file://" + dir.Path, 0, 1, TimeSpan.FromSeconds(10), backend: "gloo");
        Assert.Equal(Backend.Gloo, pg.Backend);
    }

    [Fact]
    public void A_single_rank_group_works_in_process_next_to_torchsharp()
    {
        using var dir = Paths.NewTempDir("gid-torch-single");
        using var pg = ProcessGroup.Init("file://" + dir.Path, 0, 1, TimeSpan.FromSeconds(10));
        using var t = torch.arange(6, dtype: torch.float32);
        pg.AllReduce(t, ReduceOp.Average);
        Assert.Equal([0f, 1, 2, 3, 4, 5], t.ToArray<float>());
        Assert.Matches(@"^\d+\.\d+\.\d+$", ProcessGroup.GlooVersion);
    }
}

/// <summary>10,000 training iterations in dispose scopes, after 2,000 of warm-up (JIT tiering, allocator pools; longer until the Scalar quarantine frees), must not grow the process (own process, so other tests do not disturb RSS).</summary>
public class MemoryTests
{
    [Fact]
    public void Ten_thousand_scoped_training_steps_grow_RSS_by_less_than_50_MB_after_warmup()
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "memory", "12000", "2000"], TimeSpan.FromMinutes(6));
        Assert.True(result.ExitCode == 0, result.Combined);
        var parts = result.Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var warm = long.Parse(parts[Array.IndexOf(parts, "RSS_WARM") + 1]);
        var end = long.Parse(parts[Array.IndexOf(parts, "RSS_END") + 1]);
        var growth = (end - warm) / (1024.0 * 1024.0);
        Assert.True(growth < 50, $"RSS grew by {growth:F1} MB (from {warm / 1048576.0:F1} MB after warm-up to {end / 1048576.0:F1} MB)");
    }

    /// <summary>
    /// Freed tensor memory is reused, not returned to the kernel and faulted in afresh each step
    /// (glibc's defaults: ~28,000 minor faults per step of this net). Measured with oneDNN's kernels,
    /// whose working memory is the activations: libtorch's own convolution kernels, which the runtime
    /// uses instead (TorchRuntime), fault in ~160,000 pages per step of their own whatever malloc does.
    /// </summary>
    [Fact]
    public void Steady_training_steps_reuse_freed_memory_instead_of_faulting_in_new_pages()
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "faults", "onednn"], TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.Combined);
        var parts = result.Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var faults = long.Parse(parts[Array.IndexOf(parts, "FAULTS_PER_STEP") + 1]);
        Assert.True(faults < 5000, $"{faults} minor page faults per training step after warm-up (expected < 5000)");
    }
}
